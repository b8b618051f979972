using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Monitoring;

/// <summary>The gateway's OpenTelemetry instruments, named as the contract fixes them.</summary>
public sealed class GatewayMetrics
{
    public const string MeterName = "Agent33.Gateway";

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _denials;
    private readonly Counter<long> _transitions;

    public GatewayMetrics(IMeterFactory meters, ConnectorRegistry registry)
    {
        var meter = meters.Create(MeterName);
        _calls = meter.CreateCounter<long>("connector_calls_total", description: "Connector call attempts by connector, operation and outcome.");
        _duration = meter.CreateHistogram<double>("connector_call_duration_seconds", unit: "s", description: "Duration of each connector call attempt.");
        _retries = meter.CreateCounter<long>("connector_retries_total", description: "Retried connector call attempts.");
        _denials = meter.CreateCounter<long>("connector_governance_denials_total", description: "Calls refused by governance.");
        _transitions = meter.CreateCounter<long>("connector_circuit_transitions_total", description: "Circuit breaker transitions.");
        meter.CreateObservableGauge("connector_circuit_state", () => registry.All.Select(c =>
                new Measurement<int>((int)c.Breaker.State, new KeyValuePair<string, object?>("connector", c.Options.Id))),
            description: "Circuit state per connector: 0 closed, 1 open, 2 half-open.");
    }

    public void Attempt(string connector, string operation, bool success, TimeSpan duration)
    {
        var tags = new TagList { { "connector", connector }, { "operation", operation }, { "outcome", success ? "success" : "failure" } };
        _calls.Add(1, tags);
        _duration.Record(duration.TotalSeconds, new TagList { { "connector", connector }, { "operation", operation } });
    }

    public void Retry(string connector) => _retries.Add(1, new KeyValuePair<string, object?>("connector", connector));

    public void Denied(string connector, string operation) =>
        _denials.Add(1, new TagList { { "connector", connector }, { "operation", operation } });

    public void Transition(CircuitEvent change) =>
        _transitions.Add(1, new TagList { { "connector", change.ConnectorId }, { "from", change.OldState }, { "to", change.NewState } });
}

/// <summary>Per-connector call statistics for the monitoring API: totals and a bounded latency sample.</summary>
public sealed class CallStats
{
    private const int SampleSize = 512;
    private readonly Lock _lock = new();
    private readonly double[] _latencies = new double[SampleSize];
    private int _next;
    private int _filled;
    private long _successes;
    private long _failures;

    public void Record(bool success, TimeSpan duration)
    {
        lock (_lock)
        {
            if (success)
            {
                _successes++;
            }
            else
            {
                _failures++;
            }
            _latencies[_next] = duration.TotalMilliseconds;
            _next = (_next + 1) % SampleSize;
            _filled = Math.Min(_filled + 1, SampleSize);
        }
    }

    public CallMetrics Snapshot()
    {
        lock (_lock)
        {
            var total = _successes + _failures;
            var sample = _latencies.AsSpan(0, _filled).ToArray();
            Array.Sort(sample);
            var p95 = sample.Length == 0 ? 0 : sample[Math.Min(sample.Length - 1, (int)Math.Ceiling(0.95 * sample.Length) - 1)];
            return new CallMetrics(total, _successes, _failures,
                total == 0 ? 1.0 : Math.Round(_successes / (double)total, 4),
                sample.Length == 0 ? 0 : Math.Round(sample.Average(), 3),
                Math.Round(p95, 3),
                total == 0 ? 0.0 : Math.Round(_failures / (double)total, 4));
        }
    }
}

/// <summary>The contract's <c>metrics</c> object.</summary>
public sealed record CallMetrics(long TotalCalls, long Successes, long Failures, double SuccessRate, double AvgLatencyMs, double P95LatencyMs, double ErrorRate);
