using System.Text.Json.Serialization;

namespace Agent33.Contracts.Routing;

/// <summary>
/// The body of <c>POST /v1/routing/usage</c>: what a provider reported for one LLM call (the gateway reads it from
/// the answer), with the decision's effort and estimates when the call was routed.
/// </summary>
public sealed record UsageReport(
    [property: JsonPropertyName("tenant_id")] string? TenantId,
    [property: JsonPropertyName("model")] string? Model,
    [property: JsonPropertyName("provider")] string? Provider,
    [property: JsonPropertyName("prompt_tokens")] int? PromptTokens,
    [property: JsonPropertyName("completion_tokens")] int? CompletionTokens,
    [property: JsonPropertyName("effort")] string? Effort,
    [property: JsonPropertyName("estimated_token_budget")] int? EstimatedTokenBudget,
    [property: JsonPropertyName("estimated_cost")] double? EstimatedCost)
{
    public const string Path = "/v1/routing/usage";
}
