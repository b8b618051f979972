using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Agent33.Gateway.Boundary;

/// <summary>The gateway's OpenTelemetry instruments, named as the contract fixes them.</summary>
public sealed class GatewayMetrics
{
    public const string MeterName = "Agent33.Gateway";

    /// <summary>From 1 ms to 60 s: connector calls range from a cached lookup to a slow model.</summary>
    public static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private static readonly (string From, string To)[] Transitions =
        [("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open"), ("open", "closed")];

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _denials;
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _toolRateLimited;

    public GatewayMetrics(IMeterFactory meters, ConnectorRegistry registry)
    {
        var meter = meters.Create(MeterName);
        _calls = meter.CreateCounter<long>("connector_calls_total", description: "Connector calls by connector, operation and outcome (each attempt counts once).");
        _duration = meter.CreateHistogram("connector_call_duration_seconds", unit: "s",
            description: "Duration of each connector call attempt (of a streaming answer: until its headers).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _retries = meter.CreateCounter<long>("connector_retries_total", description: "Retried connector call attempts.");
        _denials = meter.CreateCounter<long>("connector_governance_denials_total", description: "Operations refused by governance.");
        _transitions = meter.CreateCounter<long>("connector_circuit_transitions_total", description: "Circuit breaker transitions.");
        _toolRateLimited = meter.CreateCounter<long>("mcp_tool_rate_limited_total", description: "MCP tool calls refused by a per-tool rate limit (Mcp:RateLimits), by connector and tool.");
        meter.CreateObservableGauge("connector_circuit_state", () => registry.All.Select(c =>
                new Measurement<int>((int)c.Breaker.State, new KeyValuePair<string, object?>("connector", c.Options.Id))),
            description: "Circuit state per connector: 0 closed, 1 open, 2 half-open.");

        // Every configured connector's series exist from start-up, at zero: rate() and alerts work from the first scrape.
        foreach (var connector in registry.All.Select(c => c.Options))
        {
            foreach (var operation in OperationLabels.Initial(connector))
            {
                foreach (var outcome in CallOutcomes.Labels)
                {
                    _calls.Add(0, new TagList { { "connector", connector.Id }, { "operation", operation }, { "outcome", outcome } });
                }
                _denials.Add(0, new TagList { { "connector", connector.Id }, { "operation", operation } });
            }
            _retries.Add(0, new KeyValuePair<string, object?>("connector", connector.Id));
            foreach (var (from, to) in Transitions)
            {
                _transitions.Add(0, new TagList { { "connector", connector.Id }, { "from", from }, { "to", to } });
            }
        }
    }

    /// <summary>One call or attempt; <paramref name="operation"/> must already be a bounded label.</summary>
    public void Call(string connector, string operation, CallOutcome outcome, TimeSpan? duration = null)
    {
        _calls.Add(1, new TagList { { "connector", connector }, { "operation", operation }, { "outcome", outcome.Label() } });
        if (duration is { } elapsed)
        {
            _duration.Record(elapsed.TotalSeconds, new TagList { { "connector", connector }, { "operation", operation } });
        }
    }

    public void Retry(string connector) => _retries.Add(1, new KeyValuePair<string, object?>("connector", connector));

    /// <summary>A governance denial of one operation; <paramref name="operation"/> must already be a bounded label.</summary>
    public void Denied(string connector, string operation) =>
        _denials.Add(1, new TagList { { "connector", connector }, { "operation", operation } });

    /// <summary>A tool call over its per-tenant limit; the tool is one the configuration names (lower-cased), so the label set is bounded.</summary>
    public void ToolRateLimited(string connector, string tool) =>
        _toolRateLimited.Add(1, new TagList { { "connector", connector }, { "tool", tool.ToLowerInvariant() } });

    public void Transition(CircuitEvent change) =>
        _transitions.Add(1, new TagList { { "connector", change.ConnectorId }, { "from", change.OldState }, { "to", change.NewState } });
}
