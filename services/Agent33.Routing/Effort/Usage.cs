namespace Agent33.Routing.Effort;

/// <summary>
/// The body of <c>POST /v1/routing/usage</c>: what a provider reported for one LLM call (the gateway reads it from
/// the answer), with the decision's effort and estimates when the call was routed.
/// </summary>
public sealed record UsageReport(
    string? TenantId,
    string? Model,
    string? Provider,
    int? PromptTokens,
    int? CompletionTokens,
    string? Effort,
    int? EstimatedTokenBudget,
    double? EstimatedCost);

/// <summary>
/// A call's actual usage priced by the catalogue. <c>cost_status</c>: <c>catalogue</c> (the model's entry,
/// <c>cost_source</c> its source), <c>flat_rate</c> (no entry: <c>Routing:CostPer1kTokens</c> × total tokens,
/// source <c>legacy_flat_rate</c>) or <c>unpriced</c> (no entry and no flat rate: <c>cost_usd</c> null).
/// </summary>
public sealed record PricedUsage(
    string Model,
    int PromptTokens,
    int CompletionTokens,
    int TotalTokens,
    double? CostUsd,
    string CostStatus,
    string? CostSource);

public static class CostStatus
{
    public const string Catalogue = "catalogue";
    public const string FlatRate = "flat_rate";
    public const string Unpriced = "unpriced";
}
