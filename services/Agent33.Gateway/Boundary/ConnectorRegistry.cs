using Agent33.Gateway.Connectors;
using Agent33.Gateway.Monitoring;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Boundary;

/// <summary>A configured connector with its shared breaker and call statistics.</summary>
public sealed class ConnectorRuntime(ConnectorOptions options, CircuitBreaker breaker)
{
    public ConnectorOptions Options { get; } = options;
    public CircuitBreaker Breaker { get; } = breaker;
    public CallStats Stats { get; } = new();
}

/// <summary>Every connector of the catalogue, each with the one breaker all its routes and requests share.</summary>
public sealed class ConnectorRegistry
{
    private readonly Dictionary<string, ConnectorRuntime> _connectors;

    public ConnectorRegistry(ConnectorCatalog catalog, TimeProvider time, IServiceProvider services)
    {
        _connectors = catalog.Connectors.Values.ToDictionary(c => c.Id, c => new ConnectorRuntime(c,
            new CircuitBreaker(c.Id, c.Circuit, time, change => OnTransition(services, change))), StringComparer.Ordinal);
    }

    public IEnumerable<ConnectorRuntime> All => _connectors.Values.OrderBy(c => c.Options.Id, StringComparer.Ordinal);

    public ConnectorRuntime? Find(string id) => _connectors.GetValueOrDefault(id);

    private static void OnTransition(IServiceProvider services, CircuitEvent change)
    {
        services.GetRequiredService<GatewayMetrics>().Transition(change);
        if (change.NewState == "open" && change.OldState == "closed")
        {
            services.GetRequiredService<IncidentSignals>().CircuitOpened(change);
        }
    }
}
