using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.CircuitBreaker;

namespace Agent33.Gateway.Llm;

/// <summary>What the routing service decided for one LLM call.</summary>
public sealed record RoutingDecision(string Effort, string EffortSource, string Model, int? MaxTokens, long? EstimatedTokenBudget, decimal? EstimatedCost);

/// <summary>
/// Asks the routing service (<c>POST /v1/routing/decisions</c>) for a call's effort, model and token budget, naming
/// the caller's tenant with the gateway's service key. A routing service that is down or slow never holds a call up
/// for long or refuses it: after <see cref="Patience"/> the answer is null and the caller uses the default model.
/// When most calls fail, a circuit breaker stops calling for a while (answers null at once): a failed call costs a
/// socket error rethrown through every layer of the HTTP client — about ten exceptions, a millisecond of CPU — and
/// an LLM call makes two, so without it a routing outage cut the gateway's completions per second thirtyfold.
/// </summary>
public sealed class EffortRoutingClient(IHttpClientFactory clients, IConfiguration configuration)
{
    public const string ClientName = "routing";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);

    private readonly ResiliencePipeline _breaker = new ResiliencePipelineBuilder()
        .AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = 0.5,
            MinimumThroughput = 10,
            SamplingDuration = TimeSpan.FromSeconds(10),
            BreakDuration = TimeSpan.FromSeconds(5),
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<OperationCanceledException>().Handle<RoutingUnavailableException>(),
        })
        .Build();

    public Task<RoutingDecision?> DecideAsync(string tenant, string? domain, string? effort, JsonNode? messages, int maxTokens,
        string? requestedModel, string defaultModel, CancellationToken cancellationToken) =>
        PostAsync("/v1/routing/decisions", new JsonObject
        {
            ["tenant_id"] = tenant,
            ["domain"] = domain,
            ["effort"] = effort,
            ["inputs"] = new JsonObject { ["messages"] = messages?.DeepClone() },
            ["max_tokens"] = maxTokens,
            ["requested_model"] = requestedModel,
            ["default_model"] = defaultModel,
        }, decision => new RoutingDecision(
            decision.GetProperty("effort").GetString()!,
            decision.GetProperty("effort_source").GetString()!,
            decision.GetProperty("model").GetString()!,
            (int?)Number(decision, "max_tokens"),
            (long?)Number(decision, "estimated_token_budget"),
            Number(decision, "estimated_cost")), cancellationToken);

    /// <summary>Prices actual usage with the routing service's catalogue (<c>POST /v1/routing/usage</c>); null when it does not answer or cannot price.</summary>
    public async Task<decimal?> PriceAsync(string tenant, string model, long promptTokens, long completionTokens, RoutingDecision? decision, CancellationToken cancellationToken) =>
        await PostAsync("/v1/routing/usage", new JsonObject
        {
            ["tenant_id"] = tenant,
            ["model"] = model,
            ["prompt_tokens"] = promptTokens,
            ["completion_tokens"] = completionTokens,
            ["effort"] = decision?.Effort,
            ["estimated_token_budget"] = decision?.EstimatedTokenBudget is > 0 ? decision.EstimatedTokenBudget : null,
            ["estimated_cost"] = decision?.EstimatedCost,
        }, priced => Number(priced, "cost_usd") is { } cost ? new Priced(cost) : null, cancellationToken) is { } answer ? answer.CostUsd : null;

    private sealed record Priced(decimal CostUsd);

    /// <summary>A number field, or null; read as a double first, since routing writes small costs with an exponent (9.8E-05).</summary>
    private static decimal? Number(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? (decimal)value.GetDouble() : null;

    /// <summary>Posts with the service key within <see cref="Patience"/>; null for any answer but a readable success.</summary>
    private async Task<T?> PostAsync<T>(string path, JsonObject body, Func<JsonElement, T?> read, CancellationToken cancellationToken) where T : class
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            // Outcomes, not exceptions: an open circuit answers without a throw.
            var outcome = await _breaker.ExecuteOutcomeAsync(
                static async (context, state) => await state.self.SendAsync(state.path, state.body, state.read, context.CancellationToken),
                context, (self: this, path, body, read));
            return outcome.Result;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task<Outcome<T?>> SendAsync<T>(string path, JsonObject body, Func<JsonElement, T?> read, CancellationToken cancellationToken) where T : class
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(Patience);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new("Bearer", configuration["ServiceApiKey"]);
            using var response = await clients.CreateClient(ClientName).SendAsync(request, patience.Token);
            if ((int)response.StatusCode >= 500)
            {
                return Outcome.FromException<T?>(new RoutingUnavailableException());
            }
            return Outcome.FromResult<T?>(response.IsSuccessStatusCode ? read(await response.Content.ReadFromJsonAsync<JsonElement>(patience.Token)) : null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                                   && ex is HttpRequestException or OperationCanceledException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            return Outcome.FromException<T?>(ex);
        }
    }

    /// <summary>The routing service answered 5xx: as unavailable as a refused connection, for the breaker.</summary>
    private sealed class RoutingUnavailableException : Exception;
}
