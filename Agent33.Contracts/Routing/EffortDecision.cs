using System.Text.Json.Serialization;

namespace Agent33.Contracts.Routing;

/// <summary>The answer of <c>POST /v1/routing/decisions</c>, field for field as the reference router returns it.</summary>
public sealed record EffortDecision(
    [property: JsonPropertyName("effort")] string Effort,
    [property: JsonPropertyName("effort_source")] string EffortSource,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("max_tokens")] int MaxTokens,
    [property: JsonPropertyName("token_multiplier")] double TokenMultiplier,
    [property: JsonPropertyName("estimated_token_budget")] int EstimatedTokenBudget,
    [property: JsonPropertyName("estimated_cost")] double? EstimatedCost,
    [property: JsonPropertyName("estimated_cost_status")] string? EstimatedCostStatus,
    [property: JsonPropertyName("estimated_cost_source")] string? EstimatedCostSource,
    [property: JsonPropertyName("estimated_cost_source_url")] string? EstimatedCostSourceUrl,
    [property: JsonPropertyName("estimated_cost_fetched_at")] string? EstimatedCostFetchedAt,
    [property: JsonPropertyName("tenant_id")] string? TenantId,
    [property: JsonPropertyName("domain")] string? Domain,
    [property: JsonPropertyName("policy_key")] string? PolicyKey,
    [property: JsonPropertyName("heuristic_confidence")] double? HeuristicConfidence,
    [property: JsonPropertyName("heuristic_score")] int? HeuristicScore,
    [property: JsonPropertyName("heuristic_low_threshold")] int? HeuristicLowThreshold,
    [property: JsonPropertyName("heuristic_high_threshold")] int? HeuristicHighThreshold,
    [property: JsonPropertyName("heuristic_reasons")] IReadOnlyList<string> HeuristicReasons)
{
    /// <summary>
    /// Not among the contract's fields, but on the wire since the first release (clients may read it): kept so the
    /// answer stays byte-compatible.
    /// </summary>
    [JsonPropertyName("is_high_effort")]
    public bool IsHighEffort => Effort == "high";
}
