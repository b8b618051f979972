using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agent33.Gateway.Llm;

/// <summary>What the routing service decided for one LLM call.</summary>
public sealed record RoutingDecision(string Effort, string EffortSource, string Model, int? MaxTokens, long? EstimatedTokenBudget, decimal? EstimatedCost);

/// <summary>
/// Asks the routing service (<c>POST /v1/routing/decisions</c>) for a call's effort, model and token budget, naming
/// the caller's tenant with the gateway's service key. A routing service that is down or slow never holds a call up
/// for long or refuses it: after <see cref="Patience"/> the answer is null and the caller uses the default model.
/// </summary>
public sealed class EffortRoutingClient(IHttpClientFactory clients, IConfiguration configuration)
{
    public const string ClientName = "routing";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);

    public async Task<RoutingDecision?> DecideAsync(string tenant, string? domain, string? effort, JsonNode? messages, int maxTokens,
        string? requestedModel, string defaultModel, CancellationToken cancellationToken)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(Patience);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/routing/decisions")
            {
                Content = JsonContent.Create(new JsonObject
                {
                    ["tenant_id"] = tenant,
                    ["domain"] = domain,
                    ["effort"] = effort,
                    ["inputs"] = new JsonObject { ["messages"] = messages?.DeepClone() },
                    ["max_tokens"] = maxTokens,
                    ["requested_model"] = requestedModel,
                    ["default_model"] = defaultModel,
                }),
            };
            request.Headers.Authorization = new("Bearer", configuration["ServiceApiKey"]);
            using var response = await clients.CreateClient(ClientName).SendAsync(request, patience.Token);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }
            var decision = await response.Content.ReadFromJsonAsync<JsonElement>(patience.Token);
            return new RoutingDecision(
                decision.GetProperty("effort").GetString()!,
                decision.GetProperty("effort_source").GetString()!,
                decision.GetProperty("model").GetString()!,
                decision.TryGetProperty("max_tokens", out var budget) && budget.ValueKind == JsonValueKind.Number ? budget.GetInt32() : null,
                decision.TryGetProperty("estimated_token_budget", out var tokens) && tokens.ValueKind == JsonValueKind.Number ? tokens.GetInt64() : null,
                decision.TryGetProperty("estimated_cost", out var cost) && cost.ValueKind == JsonValueKind.Number ? cost.GetDecimal() : null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                                   && ex is HttpRequestException or OperationCanceledException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Prices actual usage with the routing service's catalogue (<c>POST /v1/routing/usage</c>); null when it does not answer.</summary>
    public async Task<decimal?> PriceAsync(string tenant, string model, long promptTokens, long completionTokens, RoutingDecision? decision, CancellationToken cancellationToken)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(Patience);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/routing/usage")
            {
                Content = JsonContent.Create(new JsonObject
                {
                    ["tenant_id"] = tenant,
                    ["model"] = model,
                    ["prompt_tokens"] = promptTokens,
                    ["completion_tokens"] = completionTokens,
                    ["effort"] = decision?.Effort,
                    ["estimated_token_budget"] = decision?.EstimatedTokenBudget is > 0 ? decision.EstimatedTokenBudget : null,
                    ["estimated_cost"] = decision?.EstimatedCost,
                }),
            };
            request.Headers.Authorization = new("Bearer", configuration["ServiceApiKey"]);
            using var response = await clients.CreateClient(ClientName).SendAsync(request, patience.Token);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }
            var priced = await response.Content.ReadFromJsonAsync<JsonElement>(patience.Token);
            return priced.GetProperty("cost_usd") is { ValueKind: JsonValueKind.Number } cost ? (decimal)cost.GetDouble() : null; // (an exponent, 9.8E-05, is no decimal literal)
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                                   && ex is HttpRequestException or OperationCanceledException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
