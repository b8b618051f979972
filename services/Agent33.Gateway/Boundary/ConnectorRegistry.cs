using Agent33.Gateway.Catalog;

namespace Agent33.Gateway.Boundary;

/// <summary>A configured connector with its shared breaker and call statistics.</summary>
public sealed class ConnectorRuntime(ConnectorOptions options, CircuitBreaker breaker)
{
    public ConnectorOptions Options { get; } = options;
    public CircuitBreaker Breaker { get; } = breaker;
    public CallStats Stats { get; } = new();
}

/// <summary>Every connector of the catalogue, each with the one breaker all its routes and requests share.</summary>
/// <param name="catalog">The configured connectors.</param>
/// <param name="time">The breakers' clock.</param>
/// <param name="onTransition">What a circuit transition sets off (metrics, an incident signal), wired where the gateway is composed.</param>
public sealed class ConnectorRegistry(ConnectorCatalog catalog, TimeProvider time, Action<CircuitEvent> onTransition)
{
    private readonly Dictionary<string, ConnectorRuntime> _connectors = catalog.InOrder.ToDictionary(
        c => c.Id, c => new ConnectorRuntime(c, new CircuitBreaker(c.Id, c.Circuit, time, onTransition)), StringComparer.Ordinal);

    /// <summary>In configuration order: the order <c>llm</c> connectors serving one model are tried in.</summary>
    public IEnumerable<ConnectorRuntime> All => catalog.InOrder.Select(c => _connectors[c.Id]);

    public ConnectorRuntime? Find(string id) => _connectors.GetValueOrDefault(id);
}
