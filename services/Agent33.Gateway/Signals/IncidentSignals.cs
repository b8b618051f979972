using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Agent33.ServiceDefaults.Signals;

using Agent33.Contracts.Learning;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Signals;

/// <summary>
/// Posts the gateway's learning signals — an <c>incident</c> when a connector's circuit opens (the edge from closed), a
/// <c>performance</c> signal on a tenant's first LLM budget refusal of a day, a <c>security</c> signal when an MCP tool's definition changes — in the background: the proxy path never waits on the learning service, and a failed post is only counted.
/// </summary>
public sealed partial class IncidentSignals(IHttpClientFactory clients, IConfiguration configuration, IMeterFactory meters, ILogger<IncidentSignals> logger) : BackgroundService
{
    private readonly Channel<(string Subject, SignalRequest Signal)> _outbox = Channel.CreateBounded<(string, SignalRequest)>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Counter<long> _failures = meters.Create(Boundary.GatewayMetrics.MeterName).CreateCounter<long>(
        "connector_incident_signal_failures_total", description: "Incident signals the learning service did not record.");

    public void CircuitOpened(CircuitEvent change) => _outbox.Writer.TryWrite((change.ConnectorId, new SignalRequest(
        SignalType: "incident",
        Type: null,
        Severity: "high",
        Summary: $"Connector {change.ConnectorId} circuit opened",
        Details: $"The gateway's circuit breaker for connector '{change.ConnectorId}' opened at {change.Timestamp:O} after consecutive failures; calls answer circuit_open until it recovers.",
        Source: Source,
        Context: new Dictionary<string, string> { ["connector"] = change.ConnectorId },
        TenantId: null)));

    /// <summary>A tenant's first LLM budget refusal of a UTC day.</summary>
    public void BudgetReached(string tenant, DateOnly day, string budget) => _outbox.Writer.TryWrite((tenant, new SignalRequest(
        SignalType: "performance",
        Type: null,
        Severity: "medium",
        Summary: $"LLM budget reached for tenant {tenant}",
        Details: $"Tenant '{tenant}' reached its daily LLM budget ({budget}) on {day:yyyy-MM-dd}; its calls answer budget_exceeded until the next UTC midnight.",
        Source: Source,
        Context: new Dictionary<string, string> { ["tenant"] = tenant, ["budget"] = budget, ["day"] = day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) },
        TenantId: tenant)));

    /// <summary>
    /// An MCP tool's definition changed from its pin: one signal per connector, tool and new definition (the replica that
    /// recorded the change posts it). The short hash is in the summary, so the learning service does not merge two
    /// different changes of one tool as repeats.
    /// </summary>
    public void ToolDefinitionChanged(string connector, string tool, string approvedHash, string pendingHash, IReadOnlyList<string> changed, Mcp.PinningMode mode) =>
        _outbox.Writer.TryWrite(($"{connector}/{tool}", new SignalRequest(
            SignalType: "security",
            Type: null,
            Severity: mode == Mcp.PinningMode.Enforce ? "medium" : "high",
            Summary: $"MCP tool {tool} of connector {connector} changed its definition ({pendingHash[..12]})",
            Details: $"Tool '{tool}' of connector '{connector}' is listed with a definition other than the approved one (sha256 {approvedHash} -> {pendingHash}); "
                     + $"changed: {Capped(string.Join(", ", changed))}. "
                     + (mode == Mcp.PinningMode.Enforce
                         ? "It is withheld from tools/list and its calls answer tool_definition_changed until an admin reviews GET /v1/mcp/tools and approves it."
                         : "Mcp:Pinning is warn, so it is still listed and callable; review it with GET /v1/mcp/tools."),
            Source: Source,
            Context: new Dictionary<string, string>
            {
                ["connector"] = connector, ["tool"] = tool, ["approved_hash"] = approvedHash, ["pending_hash"] = pendingHash,
                ["changed"] = Capped(string.Join(",", changed)), ["pinning"] = mode.ToString().ToLowerInvariant(),
            },
            TenantId: null)));

    /// <summary>Within the learning service's 2,000 characters for a context value (a schema can change in many places).</summary>
    private static string Capped(string text) => text.Length <= 2000 ? text : text[..1997] + "...";

    /// <summary>The <c>source</c> the gateway's signals name.</summary>
    public const string Source = "connector-gateway";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (subject, signal) in _outbox.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                var status = await clients.PostSignalAsync(configuration[Agent33.Contracts.SharedSettings.ServiceApiKey], signal, stoppingToken);
                if ((int)status is < 200 or >= 300)
                {
                    _failures.Add(1);
                    LogFailed(logger, subject, $"HTTP {(int)status}");
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested) // whatever the failure, the background loop must live on
            {
                _failures.Add(1);
                LogFailed(logger, subject, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Learning signal about {Subject} not recorded: {Reason}")]
    private static partial void LogFailed(ILogger logger, string subject, string reason);
}
