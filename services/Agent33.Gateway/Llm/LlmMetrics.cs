using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm;

/// <summary>The LLM endpoint's instruments (<c>llm_*</c>), named as the contract fixes them.</summary>
public sealed class LlmMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _tokens;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _routingFailures;
    private readonly Counter<double> _cost;
    private readonly Counter<long> _budgetRejections;
    private readonly Counter<long> _unpriced;
    private readonly Counter<double> _tenantCost;

    public LlmMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(GatewayMetrics.MeterName);
        _requests = meter.CreateCounter<long>("llm_requests_total", description: "LLM calls by served model, connector, effort and outcome.");
        _tokens = meter.CreateCounter<long>("llm_tokens_total", description: "Tokens the providers reported, by model and kind (prompt, completion).");
        _timeToFirstToken = meter.CreateHistogram("llm_time_to_first_token_seconds", unit: "s", description: "Time from the call to the first byte of the answer.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GatewayMetrics.DurationBuckets });
        _fallbacks = meter.CreateCounter<long>("llm_fallbacks_total", description: "Calls moved from one connector to the next serving the model.");
        _cost = meter.CreateCounter<double>("llm_cost_usd_total", description: "What the calls cost, priced by the routing service's catalogue.");
        _budgetRejections = meter.CreateCounter<long>("llm_budget_rejections_total", description: "Calls refused because a tenant's daily budget was reached.");
        _budgetRejections.Add(0);
        _unpriced = meter.CreateCounter<long>("llm_unpriced_calls_total", description: "Calls whose usage the routing service did not price (their tokens still count).");
        _routingFailures = meter.CreateCounter<long>("llm_routing_failures_total",
            description: "Calls that went to Llm:DefaultModel because the routing service gave no decision, by reason (unauthorized and forbidden: ServiceApiKey).");
        foreach (var reason in RoutingFailure.All)
        {
            _routingFailures.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }
        _tenantCost = meter.CreateCounter<double>("llm_tenant_cost_usd_total", description: "What the calls cost by tenant, priced by the routing service's catalogue.");
    }

    // Every call's instrument carries the inbound API it came through: api = chat | responses | messages | embeddings.

    public void Request(string api, string model, string connector, string effort, string outcome) =>
        _requests.Add(1, new TagList { { "api", api }, { "model", model }, { "connector", connector }, { "effort", effort }, { "outcome", outcome } });

    public void TimeToFirstToken(string api, TimeSpan elapsed) => _timeToFirstToken.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("api", api));

    public void Fallback(string api, string from, string to) => _fallbacks.Add(1, new TagList { { "api", api }, { "from", from }, { "to", to } });

    /// <summary>An <c>auto</c> call without a decision; <paramref name="reason"/> is one of <see cref="RoutingFailure.All"/>.</summary>
    public void RoutingFailed(string reason) => _routingFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void TenantCost(string tenant, double usd) => _tenantCost.Add(usd, new KeyValuePair<string, object?>("tenant", tenant));

    public void Cost(string api, string model, double usd) => _cost.Add(usd, new TagList { { "api", api }, { "model", model } });

    public void BudgetRejected(string api) => _budgetRejections.Add(1, new KeyValuePair<string, object?>("api", api));

    public void Unpriced() => _unpriced.Add(1);

    /// <summary>A call's charged tokens, by where they come from: <c>provider</c> (its reported usage) or <c>estimated</c> (counted by the gateway).</summary>
    public void Tokens(string api, string model, long prompt, long completion, string source)
    {
        _tokens.Add(prompt, new TagList { { "api", api }, { "model", model }, { "kind", "prompt" }, { "source", source } });
        _tokens.Add(completion, new TagList { { "api", api }, { "model", model }, { "kind", "completion" }, { "source", source } });
    }
}
