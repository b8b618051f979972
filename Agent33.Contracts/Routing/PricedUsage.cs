using System.Text.Json.Serialization;

namespace Agent33.Contracts.Routing;

/// <summary>
/// The answer of <c>POST /v1/routing/usage</c>: a call's actual usage priced by the catalogue. <c>cost_status</c>:
/// <c>catalogue</c> (the model's entry, <c>cost_source</c> its source), <c>flat_rate</c> (no entry:
/// <c>Routing:CostPer1kTokens</c> × total tokens, source <c>legacy_flat_rate</c>) or <c>unpriced</c> (no entry and no
/// flat rate: <c>cost_usd</c> null).
/// </summary>
public sealed record PricedUsage(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("completion_tokens")] int CompletionTokens,
    [property: JsonPropertyName("total_tokens")] int TotalTokens,
    [property: JsonPropertyName("cost_usd")] double? CostUsd,
    [property: JsonPropertyName("cost_status")] string CostStatus,
    [property: JsonPropertyName("cost_source")] string? CostSource);
