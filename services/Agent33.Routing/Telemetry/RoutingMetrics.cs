using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agent33.Routing.Effort;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Telemetry;

/// <summary>
/// Every routing decision, counted twice over: as OpenTelemetry instruments (exported over OTLP to the
/// dashboard and as Prometheus text on /metrics) and in the reference-shaped summary that the dashboard
/// routes and the alert rules read.
/// </summary>
public sealed class RoutingMetrics
{
    public const string MeterName = "Agent33.Routing";
    public const string Decisions = "effort_routing_decisions_total";
    public const string HighEffort = "effort_routing_high_effort_total";
    public const string EstimatedCost = "effort_routing_estimated_cost_usd";
    public const string TokenBudget = "effort_routing_estimated_token_budget";
    public const string ExportFailures = "effort_routing_export_failures_total";
    public const string SignalFailures = "effort_routing_signal_failures_total";

    private readonly Counter<long> _decisions;
    private readonly Counter<long> _highEffort;
    private readonly Histogram<double> _cost;
    private readonly Histogram<long> _tokenBudget;
    private readonly Counter<long> _exportFailures;
    private readonly Counter<long> _signalFailures;

    public RoutingMetrics(IMeterFactory meters, TimeProvider time, IOptions<RoutingOptions> options)
    {
        var meter = meters.Create(MeterName);
        _decisions = meter.CreateCounter<long>(Decisions, description: "Routing decisions by effort and by what chose it.");
        _highEffort = meter.CreateCounter<long>(HighEffort, description: "Routing decisions that chose high effort.");
        _cost = meter.CreateHistogram<double>(EstimatedCost, description: "Estimated cost of a routed call, in USD.");
        _tokenBudget = meter.CreateHistogram<long>(TokenBudget, description: "Estimated token budget of a routed call.");
        _exportFailures = meter.CreateCounter<long>(ExportFailures, description: "Decisions the JSONL export failed to write.");
        _signalFailures = meter.CreateCounter<long>(SignalFailures, description: "Alert learning signals the learning service did not accept.");
        Summary = new MetricsSummary(time, TimeSpan.FromSeconds(options.Value.Dashboard.WindowSeconds));
    }

    public MetricsSummary Summary { get; }

    /// <summary>
    /// As the reference records a decision: the decision counter by effort and source, the high-effort counter,
    /// and the token budget and cost twice in the summary — under <c>name(effort=…,source=…)</c> and unlabelled —
    /// while the OTel histograms carry <c>effort</c> and <c>source</c> (Prometheus sums them for the whole).
    /// </summary>
    public void Record(EffortDecision decision)
    {
        var tags = new TagList { { "effort", decision.Effort }, { "source", decision.EffortSource } };
        var labels = MetricsSummary.LabelKey(("effort", decision.Effort), ("source", decision.EffortSource));
        _decisions.Add(1, tags);
        Summary.Increment(Decisions, labels);
        if (decision.IsHighEffort)
        {
            _highEffort.Add(1);
            Summary.Increment(HighEffort);
        }
        _tokenBudget.Record(decision.EstimatedTokenBudget, tags);
        Summary.Observe(TokenBudget, decision.EstimatedTokenBudget, labels);
        Summary.Observe(TokenBudget, decision.EstimatedTokenBudget);
        if (decision.EstimatedCost is { } cost)
        {
            _cost.Record(cost, tags);
            Summary.Observe(EstimatedCost, cost, labels);
            Summary.Observe(EstimatedCost, cost);
        }
    }

    public void ExportFailed()
    {
        _exportFailures.Add(1);
        Summary.Increment(ExportFailures);
    }

    public void SignalFailed()
    {
        _signalFailures.Add(1);
        Summary.Increment(SignalFailures);
    }

    /// <summary>Bucket boundaries that include the alert thresholds, so Prometheus can count decisions above them.</summary>
    public static double[] CostBuckets(AlertOptions alerts) =>
        [.. new[] { 0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, alerts.HighCostUsdThreshold }.Distinct().Order()];

    public static double[] TokenBuckets(AlertOptions alerts) =>
        [.. new[] { 256.0, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, alerts.HighTokenBudgetThreshold }.Distinct().Order()];
}
