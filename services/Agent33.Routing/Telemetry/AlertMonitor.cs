using System.Threading.Channels;
using Agent33.Routing.Effort;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Telemetry;

/// <summary>
/// Evaluates the alert rules after every decision (three lookups in running aggregates, so it costs next
/// to nothing) and, when a rule starts firing — the edge, not every evaluation — queues one
/// <c>performance</c> learning signal that a background loop posts, so the decision path never waits
/// on the learning service.
/// </summary>
public sealed class AlertMonitor : BackgroundService
{
    private readonly RoutingMetrics _metrics;
    private readonly LearningSignals _signals;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DateTimeOffset> _firingSince = new(StringComparer.Ordinal);
    private readonly Channel<FiringAlert> _started = Channel.CreateBounded<FiringAlert>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });

    public AlertMonitor(IOptions<RoutingOptions> options, RoutingMetrics metrics, LearningSignals signals, TimeProvider time)
    {
        _metrics = metrics;
        _signals = signals;
        _time = time;
        var alerts = options.Value.Alerts;
        Rules = !alerts.Enabled ? [] :
        [
            new AlertRule("high_effort_routing_volume", RoutingMetrics.HighEffort, alerts.HighEffortCountThreshold, "gt", "value"),
            new AlertRule("high_effort_cost_spike", RoutingMetrics.EstimatedCost, alerts.HighCostUsdThreshold, "gt", "max"),
            new AlertRule("high_effort_token_budget_spike", RoutingMetrics.TokenBudget, alerts.HighTokenBudgetThreshold, "gt", "max"),
            .. alerts.Rules.Select(r => new AlertRule(r.Name, r.Metric, r.Threshold, r.Comparator, r.Statistic)),
        ];
    }

    public IReadOnlyList<AlertRule> Rules { get; }

    /// <summary>The rules firing now, each with the time it started firing.</summary>
    public IReadOnlyList<FiringAlert> Evaluate()
    {
        var now = _time.GetUtcNow();
        var firing = new List<FiringAlert>();
        lock (_lock)
        {
            foreach (var rule in Rules)
            {
                if (_metrics.Summary.Statistic(rule.Metric, rule.Statistic) is { } value && rule.Holds(value))
                {
                    if (!_firingSince.TryGetValue(rule.Name, out var since))
                    {
                        _firingSince[rule.Name] = since = now;
                        var started = new FiringAlert(rule.Name, rule.Metric, value, rule.Threshold, since);
                        _started.Writer.TryWrite(started);
                        firing.Add(started);
                        continue;
                    }
                    firing.Add(new FiringAlert(rule.Name, rule.Metric, value, rule.Threshold, since));
                }
                else
                {
                    _firingSince.Remove(rule.Name); // stopped firing: the next start is a new edge
                }
            }
        }
        return firing;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var alert in _started.Reader.ReadAllAsync(stoppingToken))
        {
            if (!await _signals.PostAlertAsync(alert, stoppingToken))
            {
                _metrics.SignalFailed();
            }
        }
    }
}
