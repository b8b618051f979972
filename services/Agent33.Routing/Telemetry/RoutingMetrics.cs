using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agent33.Contracts.Routing;
using Agent33.Routing.Effort;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Telemetry;

/// <summary>
/// Every routing decision, counted twice over: as OpenTelemetry instruments (exported over OTLP to the
/// dashboard and as Prometheus text on /metrics) and in the reference-shaped summary that the dashboard
/// routes and the alert rules read. As a hosted service it starts every counter a Prometheus rule or dashboard reads
/// at zero, so those series exist from start-up (a rule over a missing series has no data and cannot fire).
/// </summary>
public sealed class RoutingMetrics : IHostedService
{
    public const string MeterName = "Agent33.Routing";
    public const string Decisions = "effort_routing_decisions_total";
    public const string HighEffort = "effort_routing_high_effort_total";
    public const string EstimatedCost = "effort_routing_estimated_cost_usd";
    public const string TokenBudget = "effort_routing_estimated_token_budget";
    public const string ExportFailures = "effort_routing_export_failures_total";
    public const string SignalFailures = "effort_routing_signal_failures_total";
    public const string ActualTokens = "effort_routing_actual_tokens";
    public const string ActualCost = "effort_routing_actual_cost_usd";
    public const string TokenEstimateRatio = "effort_routing_actual_to_estimated_token_ratio";
    public const string CostEstimateRatio = "effort_routing_actual_to_estimated_cost_ratio";

    private readonly Counter<long> _decisions;
    private readonly Counter<long> _highEffort;
    private readonly Histogram<double> _cost;
    private readonly Histogram<long> _tokenBudget;
    private readonly Counter<long> _exportFailures;
    private readonly Counter<long> _signalFailures;
    private readonly Histogram<long> _actualTokens;
    private readonly Histogram<double> _actualCost;
    private readonly Histogram<double> _tokenRatio;
    private readonly Histogram<double> _costRatio;
    private readonly PricingCatalog _pricing;

    public RoutingMetrics(IMeterFactory meters, TimeProvider time, IOptions<RoutingOptions> options, PricingCatalog pricing)
    {
        _pricing = pricing;
        var meter = meters.Create(MeterName);
        _decisions = meter.CreateCounter<long>(Decisions, description: "Routing decisions by effort and by what chose it.");
        _highEffort = meter.CreateCounter<long>(HighEffort, description: "Routing decisions that chose high effort.");
        _cost = meter.CreateHistogram<double>(EstimatedCost, description: "Estimated cost of a routed call, in USD.");
        _tokenBudget = meter.CreateHistogram<long>(TokenBudget, description: "Estimated token budget of a routed call.");
        _exportFailures = meter.CreateCounter<long>(ExportFailures, description: "Decisions the JSONL export failed to write.");
        _signalFailures = meter.CreateCounter<long>(SignalFailures, description: "Alert learning signals the learning service did not accept.");
        _actualTokens = meter.CreateHistogram<long>(ActualTokens, description: "Tokens (prompt + completion) a provider reported for an LLM call.");
        _actualCost = meter.CreateHistogram<double>(ActualCost, description: "An LLM call's reported usage priced by the pricing catalogue, in USD.");
        _tokenRatio = meter.CreateHistogram<double>(TokenEstimateRatio, description: "Actual tokens (prompt + completion) divided by the decision's estimated token budget.");
        _costRatio = meter.CreateHistogram<double>(CostEstimateRatio, description: "Actual cost divided by the decision's estimated cost.");
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
        // Prometheus sees every decision's cost, so the cost histogram (and the cost alert) has data under the default
        // settings too, where the gateway names no provider and no flat rate is set: the decision's own estimate, else
        // the model's catalogue price for the budget, else 0 (unpriced). The summary keeps the reference's figures.
        _cost.Record(decision.EstimatedCost ?? CataloguePrice(decision) ?? 0, tags);
        if (decision.EstimatedCost is { } cost)
        {
            Summary.Observe(EstimatedCost, cost, labels);
            Summary.Observe(EstimatedCost, cost);
        }
    }

    /// <summary>The decision's budget priced by its model's catalogue entry (any provider), as input and output tokens like an estimate; null for a model the catalogue lacks.</summary>
    private double? CataloguePrice(EffortDecision decision) =>
        decision.Model.Length > 0 && _pricing.LookupModel(null, decision.Model) is { } entry ? PricingCatalog.Cost(entry, decision.EstimatedTokenBudget) : null;

    /// <summary>Once the telemetry's own hosted service listens (it is registered first), the counters' series appear at zero.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _highEffort.Add(0);
        _exportFailures.Add(0);
        _signalFailures.Add(0);
        foreach (var effort in EffortLevels.Names)
        {
            foreach (var source in Enum.GetValues<EffortSource>())
            {
                _decisions.Add(0, new TagList { { "effort", effort }, { "source", source.Name() } });
            }
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A call's actual usage, beside the decision metrics: total tokens and priced cost (when priced), and — when the
    /// reporter passes the decision's estimates — actual ÷ estimated tokens and cost. With an effort, OTel carries it
    /// as a tag and the summary keeps <c>name(effort=…)</c> beside the unlabelled key, as for the estimates.
    /// </summary>
    public void RecordUsage(PricedUsage usage, string? effort, int? estimatedTokenBudget, double? estimatedCost)
    {
        var tags = new TagList();
        var labels = "";
        if (effort is not null)
        {
            tags.Add("effort", effort);
            labels = MetricsSummary.LabelKey(("effort", effort));
        }
        Observe(_actualTokens, ActualTokens, usage.TotalTokens, tags, labels);
        if (usage.CostUsd is { } cost)
        {
            Observe(_actualCost, ActualCost, cost, tags, labels);
            if (estimatedCost is > 0 and var estimate)
            {
                Observe(_costRatio, CostEstimateRatio, cost / estimate, tags, labels);
            }
        }
        if (estimatedTokenBudget is > 0 and var budget)
        {
            Observe(_tokenRatio, TokenEstimateRatio, (double)usage.TotalTokens / budget, tags, labels);
        }
    }

    private void Observe(Histogram<long> histogram, string name, long value, in TagList tags, string labels)
    {
        histogram.Record(value, tags);
        Summarize(name, value, labels);
    }

    private void Observe(Histogram<double> histogram, string name, double value, in TagList tags, string labels)
    {
        histogram.Record(value, tags);
        Summarize(name, value, labels);
    }

    private void Summarize(string name, double value, string labels)
    {
        if (labels.Length > 0)
        {
            Summary.Observe(name, value, labels);
        }
        Summary.Observe(name, value);
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

    /// <summary>Actual ÷ estimated: 1 is an exact estimate; below it the estimate was generous, above it short.</summary>
    public static readonly double[] RatioBuckets = [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4, 10];
}
