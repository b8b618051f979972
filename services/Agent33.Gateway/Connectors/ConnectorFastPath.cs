using System.Collections.Frozen;
using Agent33.Gateway.Boundary;
using Microsoft.AspNetCore.Routing.Patterns;
using Yarp.ReverseProxy.Model;

namespace Agent33.Gateway.Connectors;

/// <summary>
/// The connector call every agent makes most, found without endpoint routing: a configured connector's path
/// (<c>/connectors/{id}/…</c>, in any case, as routing matches it) is looked up in a table of YARP's own route endpoints,
/// built once at start-up. The request then runs the routed path's very admission (<c>UseAdmission</c>: CORS, the API
/// key, the endpoint's authorization policy, the write limit — each reading the endpoint's own metadata) and the endpoint
/// itself (YARP's proxy pipeline: the boundary, load balancing over every destination, the forwarder). Only route
/// matching is skipped, so the fast and routed answers cannot drift apart; every other request goes on to routing.
/// </summary>
/// <remarks>
/// Start-up fails when a connector endpoint declares something a path lookup does not honour (methods, hosts, header
/// or query matches, route constraints), or two connector ids differ only in case.
/// </remarks>
public sealed class ConnectorFastPath
{
    private static readonly string Prefix = ConnectorRoutes.PathPrefix + "/";
    private readonly RequestDelegate _next;
    private readonly ConnectorDoor _door;

    public ConnectorFastPath(RequestDelegate next, ConnectorDoor door)
    {
        _next = next;
        _door = door;
        door.Validate();
    }

    public Task InvokeAsync(HttpContext http)
    {
        var path = http.Request.Path.Value;
        if (path is null || !path.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return _next(http);
        }
        var id = path.AsSpan(Prefix.Length);
        if (id.IndexOf('/') is >= 0 and var end)
        {
            id = id[..end];
        }
        return _door.TryFind(id, out var endpoint) ? _door.InvokeAsync(http, endpoint) : _next(http);
    }
}

/// <summary>
/// A connector's door as one call: its YARP route endpoint, found by connector id in a table built once, run behind the
/// service's own admission (<c>UseAdmission</c>) exactly as routing would run it. The fast path and in-process callers
/// (<c>/mcp</c>'s calls to its connectors) enter every connector through here, so they meet the same rules.
/// </summary>
public sealed class ConnectorDoor(ConnectorRegistry registry)
{
    private RequestDelegate? _admitted;
    private IEndpointRouteBuilder? _routes;
    private FrozenDictionary<string, Endpoint>.AlternateLookup<ReadOnlySpan<char>>? _endpoints;

    /// <summary>Set once the pipeline is built: the endpoints to look up and the admission branch that runs them.</summary>
    internal void Attach(IEndpointRouteBuilder routes, RequestDelegate admitted) => (_routes, _admitted) = (routes, admitted);

    /// <summary>Builds the table now, so an endpoint the lookup would not honour stops start-up.</summary>
    public void Validate() => _ = Endpoints;

    private FrozenDictionary<string, Endpoint>.AlternateLookup<ReadOnlySpan<char>> Endpoints =>
        _endpoints ??= Table(_routes ?? throw new InvalidOperationException("The connector door is used before the pipeline was built."), registry)
            .GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryFind(ReadOnlySpan<char> id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Endpoint? endpoint) =>
        Endpoints.TryGetValue(id, out endpoint);

    /// <summary>Admission, then the connector's endpoint (the boundary and the forwarder).</summary>
    public Task InvokeAsync(HttpContext http, Endpoint endpoint)
    {
        http.SetEndpoint(endpoint);
        return _admitted!(http);
    }

    private static FrozenDictionary<string, Endpoint> Table(IEndpointRouteBuilder routes, ConnectorRegistry registry)
    {
        var table = new Dictionary<string, Endpoint>(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in routes.DataSources.SelectMany(source => source.Endpoints).OfType<RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<RouteModel>() is not { } route || registry.Find(route.Config.RouteId) is not { } connector)
            {
                continue;
            }
            var id = connector.Options.Id;
            if (Unhonoured(endpoint, route, id) is { } what)
            {
                throw new InvalidOperationException(
                    $"The endpoint of connector '{id}' declares {what}, which the gateway's connector fast path does not honour; "
                    + "declare it where the fast path reads it, or remove it.");
            }
            if (!table.TryAdd(id, endpoint))
            {
                throw new InvalidOperationException($"Connectors '{table[id].Metadata.GetMetadata<RouteModel>()!.Config.RouteId}' and '{id}' differ only in case; routing cannot tell them apart.");
            }
        }
        var missing = registry.All.Select(c => c.Options.Id).Where(id => !table.ContainsKey(id)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"No route endpoint was published for connector(s) {string.Join(", ", missing)}.");
        }
        return table.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>What the endpoint asks of a request beyond its path's prefix, which a lookup by connector id would skip.</summary>
    private static string? Unhonoured(RouteEndpoint endpoint, RouteModel route, string id)
    {
        var match = route.Config.Match;
        if (endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is { HttpMethods.Count: > 0 } || match.Methods is { Count: > 0 })
        {
            return "HTTP methods";
        }
        if (endpoint.Metadata.GetMetadata<IHostMetadata>() is { Hosts.Count: > 0 } || match.Hosts is { Count: > 0 })
        {
            return "hosts";
        }
        if (match.Headers is { Count: > 0 } || match.QueryParameters is { Count: > 0 })
        {
            return "header or query matches";
        }
        var expected = RoutePatternFactory.Parse($"{ConnectorRoutes.PathPrefix}/{id}/{{**remainder}}");
        if (endpoint.RoutePattern.PathSegments.Count != expected.PathSegments.Count || endpoint.RoutePattern.ParameterPolicies.Count > 0
            || !string.Equals(endpoint.RoutePattern.RawText, expected.RawText, StringComparison.OrdinalIgnoreCase))
        {
            return $"the route '{endpoint.RoutePattern.RawText}'";
        }
        return endpoint.RequestDelegate is null ? "no request delegate" : null;
    }
}

public static class ConnectorFastPathExtensions
{
    /// <summary>Setting that turns the fast path off (it is on by default); the tests compare the two paths with it.</summary>
    public const string EnabledKey = "Gateway:FastPath";

    /// <summary>
    /// Puts the fast path in <paramref name="pipeline"/>: a branch of the service's own admission followed by the endpoint,
    /// for requests whose endpoint the path's lookup found.
    /// </summary>
    public static IApplicationBuilder UseConnectorFastPath(this IApplicationBuilder pipeline, IEndpointRouteBuilder routes)
    {
        var enabled = routes.ServiceProvider.GetRequiredService<IConfiguration>().GetValue(EnabledKey, true);
        var branch = pipeline.New();
        branch.UseAdmission();
        branch.Run(static http => http.GetEndpoint()!.RequestDelegate!(http));
        routes.ServiceProvider.GetRequiredService<ConnectorDoor>().Attach(routes, branch.Build());
        return enabled ? pipeline.UseMiddleware<ConnectorFastPath>() : pipeline;
    }
}
