using System.Text.Json;
using System.Text.Json.Serialization;

namespace Agent33.Contracts.Routing;

/// <summary>The body of <c>POST /v1/routing/decisions</c>: the LLM call the gateway (or an agent) asks a decision for.</summary>
public sealed record DecisionRequest(
    [property: JsonPropertyName("requested_model")] string? RequestedModel,
    [property: JsonPropertyName("default_model")] string? DefaultModel,
    [property: JsonPropertyName("max_tokens")] int? MaxTokens,
    [property: JsonPropertyName("effort")] string? Effort,
    [property: JsonPropertyName("tenant_id")] string? TenantId,
    [property: JsonPropertyName("domain")] string? Domain,
    [property: JsonPropertyName("inputs")] JsonElement? Inputs,
    [property: JsonPropertyName("iterative")] bool? Iterative,
    [property: JsonPropertyName("max_iterations")] int? MaxIterations,
    [property: JsonPropertyName("provider")] string? Provider)
{
    public const string Path = "/v1/routing/decisions";
}
