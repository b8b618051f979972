using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;
using Yarp.ReverseProxy.Configuration;

namespace Agent33.Gateway.Connectors;

/// <summary>
/// YARP routes and clusters from the catalogue: <c>/connectors/{id}/{**path}</c> → the connector's
/// destination + path (a connector with several destinations: one YARP balances each attempt over). Only configured
/// destinations are ever reached.
/// </summary>
public static class ConnectorRoutes
{
    public const string PathPrefix = "/connectors";

    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(ConnectorCatalog catalog)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var connector in catalog.Connectors.Values)
        {
            var prefix = $"{PathPrefix}/{connector.Id}";
            routes.Add(new RouteConfig
            {
                RouteId = connector.Id,
                ClusterId = connector.Id,
                AuthorizationPolicy = Scopes.Write,
                Match = new RouteMatch { Path = $"{prefix}/{{**remainder}}" },
                Transforms =
                [
                    // Every other request header rule is the one header policy of every door (HeaderPolicy, a transform of every route).
                    new Dictionary<string, string> { ["PathRemovePrefix"] = prefix },
                    // Every proxied answer names its connector, error statuses included, so an upstream's 401 or 404
                    // is told apart from the gateway's own (which carry no such header, or a problem code). Set, not
                    // appended: an upstream cannot name another connector, and a retried call still has one value.
                    new Dictionary<string, string> { ["ResponseHeader"] = OutcomeWriter.ConnectorHeader, ["Set"] = connector.Id, ["When"] = "Always" },
                ],
            });
            clusters.Add(new ClusterConfig
            {
                ClusterId = connector.Id,
                Destinations = connector.AllDestinations.Select((address, i) => (address, i))
                    .ToDictionary(d => d.i == 0 ? "upstream" : $"upstream-{d.i}", d => new DestinationConfig { Address = d.address }),
                // Upstream redirects reach the caller as they are; the gateway never follows them itself.
                HttpClient = new HttpClientConfig { DangerousAcceptAnyServerCertificate = false },
                // YARP's activity timeout is the stream idle timeout: no byte for that long cuts the call.
                HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(connector.StreamIdleTimeoutSeconds) },
            });
        }
        return (routes, clusters);
    }
}
