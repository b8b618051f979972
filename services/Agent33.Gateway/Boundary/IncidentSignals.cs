using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Agent33.ServiceDefaults.Signals;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// Posts one <c>incident</c> learning signal when a connector's circuit opens (the edge from closed), in the
/// background: the proxy path never waits on the learning service, and a failed post is only counted.
/// </summary>
public sealed partial class IncidentSignals(IHttpClientFactory clients, IConfiguration configuration, IMeterFactory meters, ILogger<IncidentSignals> logger) : BackgroundService
{
    private readonly Channel<CircuitEvent> _opened = Channel.CreateBounded<CircuitEvent>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Counter<long> _failures = meters.Create(Monitoring.GatewayMetrics.MeterName).CreateCounter<long>(
        "connector_incident_signal_failures_total", description: "Incident signals the learning service did not record.");

    public void CircuitOpened(CircuitEvent change) => _opened.Writer.TryWrite(change);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var change in _opened.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                var status = await clients.PostSignalAsync(configuration["ServiceApiKey"], new
                {
                    signal_type = "incident",
                    severity = "high",
                    summary = $"Connector {change.ConnectorId} circuit opened",
                    details = $"The gateway's circuit breaker for connector '{change.ConnectorId}' opened at {change.Timestamp:O} after consecutive failures; calls answer circuit_open until it recovers.",
                    source = "connector-gateway",
                    context = new Dictionary<string, string> { ["connector"] = change.ConnectorId },
                }, stoppingToken);
                if ((int)status is < 200 or >= 300)
                {
                    _failures.Add(1);
                    LogFailed(logger, change.ConnectorId, $"HTTP {(int)status}");
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested) // whatever the failure, the background loop must live on
            {
                _failures.Add(1);
                LogFailed(logger, change.ConnectorId, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Incident signal for connector {Connector} not recorded: {Reason}")]
    private static partial void LogFailed(ILogger logger, string connector, string reason);
}
