using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Contracts;
using Agent33.Contracts.Routing;
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
/// Every decision an <c>auto</c> call could not get is counted with its reason (<c>llm_routing_failures_total{reason}</c>);
/// a refusal (401/403: a missing or wrong <c>ServiceApiKey</c>) is a misconfiguration, not an outage, and is also logged
/// at error, at most once per <see cref="RefusalLogInterval"/>, since every such call silently takes the default model.
/// </summary>
public sealed partial class EffortRoutingClient(IHttpClientFactory clients, IConfiguration configuration, LlmMetrics metrics, TimeProvider time,
    ILogger<EffortRoutingClient> logger)
{
    public const string ClientName = "routing";
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan RefusalLogInterval = TimeSpan.FromMinutes(1);

    private long _refusalLoggedAt = long.MinValue;

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

    /// <summary>
    /// The decision for a call; null when routing did not give one. For an <c>auto</c> call (no
    /// <paramref name="requestedModel"/>) that means the default model, and the failure is counted with its reason.
    /// </summary>
    public async Task<RoutingDecision?> DecideAsync(string tenant, string? domain, string? effort, JsonNode? messages, int maxTokens,
        string? requestedModel, string defaultModel, CancellationToken cancellationToken)
    {
        var request = new DecisionRequest(RequestedModel: requestedModel, DefaultModel: defaultModel, MaxTokens: maxTokens, Effort: effort,
            TenantId: tenant, Domain: domain, Inputs: JsonSerializer.SerializeToElement(new JsonObject { ["messages"] = messages?.DeepClone() }),
            Iterative: null, MaxIterations: null, Provider: null);
        var (decision, failure) = await PostAsync<DecisionRequest, EffortDecision, RoutingDecision>(DecisionRequest.Path, request, decision => new RoutingDecision(
            decision.Effort, decision.EffortSource, decision.Model, decision.MaxTokens, decision.EstimatedTokenBudget,
            decision.EstimatedCost is { } cost ? (decimal)cost : null), cancellationToken);
        if (decision is null && requestedModel is null && failure is not null)
        {
            metrics.RoutingFailed(failure);
        }
        return decision;
    }

    /// <summary>Prices actual usage with the routing service's catalogue (<c>POST /v1/routing/usage</c>); null when it does not answer or cannot price.</summary>
    public async Task<decimal?> PriceAsync(string tenant, string model, long promptTokens, long completionTokens, RoutingDecision? decision, CancellationToken cancellationToken)
    {
        var report = new UsageReport(TenantId: tenant, Model: model, Provider: null, PromptTokens: Tokens(promptTokens), CompletionTokens: Tokens(completionTokens),
            Effort: decision?.Effort, EstimatedTokenBudget: decision?.EstimatedTokenBudget is > 0 and <= int.MaxValue ? (int)decision.EstimatedTokenBudget : null,
            EstimatedCost: decision?.EstimatedCost is { } estimated ? (double)estimated : null);
        var (priced, _) = await PostAsync<UsageReport, PricedUsage, Priced>(UsageReport.Path, report,
            priced => priced.CostUsd is { } cost ? new Priced((decimal)cost) : null, cancellationToken);
        if (priced is { } answer)
        {
            metrics.TenantCost(tenant, (double)answer.CostUsd); // llm_cost_usd_total has the model; this is the tenant's share
        }
        return priced?.CostUsd;
    }

    private sealed record Priced(decimal CostUsd);

    /// <summary>A token count as the usage report carries it (validated usage is far below its bound).</summary>
    private static int Tokens(long count) => (int)Math.Clamp(count, 0, int.MaxValue);

    /// <summary>Posts with the service key within <see cref="Patience"/>; no result for any answer but a readable success, and then why.</summary>
    private async Task<(T? Result, string? Failure)> PostAsync<TBody, TAnswer, T>(string path, TBody body, Func<TAnswer, T?> read, CancellationToken cancellationToken) where T : class
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            // Outcomes, not exceptions: an open circuit answers without a throw.
            var outcome = await _breaker.ExecuteOutcomeAsync(
                static async (context, state) => await state.self.SendAsync<TBody, TAnswer, T>(state.path, state.body, state.read, context.CancellationToken),
                context, (self: this, path, body, read));
            return (outcome.Result, outcome.Exception switch
            {
                null => null,
                RoutingUnavailableException or HttpRequestException => RoutingFailure.Unavailable,
                BrokenCircuitException => RoutingFailure.CircuitOpen,
                OperationCanceledException => RoutingFailure.Timeout,
                RoutingAnsweredException answered => answered.Reason,
                _ => RoutingFailure.InvalidAnswer,
            });
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task<Outcome<T?>> SendAsync<TBody, TAnswer, T>(string path, TBody body, Func<TAnswer, T?> read, CancellationToken cancellationToken) where T : class
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(Patience);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new("Bearer", configuration[SharedSettings.ServiceApiKey]);
            using var response = await clients.CreateClient(ClientName).SendAsync(request, patience.Token);
            if ((int)response.StatusCode >= 500)
            {
                return Outcome.FromException<T?>(new RoutingUnavailableException());
            }
            if (!response.IsSuccessStatusCode)
            {
                // Routing is up and said no: nothing for the breaker, which counts only outages.
                var reason = RoutingFailure.Of(response.StatusCode);
                if (reason is RoutingFailure.Unauthorized or RoutingFailure.Forbidden)
                {
                    LogRefusalAtMostOncePerInterval(path, (int)response.StatusCode);
                }
                return Outcome.FromException<T?>(new RoutingAnsweredException(reason));
            }
            var answer = await response.Content.ReadFromJsonAsync<TAnswer>(patience.Token) ?? throw new JsonException("routing answered null");
            return Outcome.FromResult<T?>(read(answer));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                                   && ex is HttpRequestException or OperationCanceledException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            return Outcome.FromException<T?>(ex);
        }
    }

    /// <summary>Logs a refusal unless one was logged within <see cref="RefusalLogInterval"/>: one line a minute, not one per call.</summary>
    private void LogRefusalAtMostOncePerInterval(string path, int status)
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _refusalLoggedAt);
        if (last != long.MinValue && time.GetElapsedTime(last, now) < RefusalLogInterval)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref _refusalLoggedAt, now, last) == last)
        {
            LogRefused(logger, status, path, string.IsNullOrEmpty(configuration[SharedSettings.ServiceApiKey]) ? "is not set" : "is not accepted by routing");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The routing service refused the gateway ({Status} on {Path}): ServiceApiKey {Problem}. "
        + "Every model \"auto\" call takes Llm:DefaultModel until it is fixed (counted in llm_routing_failures_total; logged at most once a minute).")]
    private static partial void LogRefused(ILogger logger, int status, string path, string problem);

    /// <summary>The routing service answered 5xx: as unavailable as a refused connection, for the breaker.</summary>
    private sealed class RoutingUnavailableException : Exception;

    /// <summary>The routing service answered, with a refusal or an error of the request: not an outage, so not the breaker's.</summary>
    private sealed class RoutingAnsweredException(string reason) : Exception
    {
        public string Reason { get; } = reason;
    }
}

/// <summary>Why an <c>auto</c> call got no decision: the <c>reason</c> label of <c>llm_routing_failures_total</c>.</summary>
public static class RoutingFailure
{
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string Rejected = "rejected";
    public const string Unavailable = "unavailable";
    public const string CircuitOpen = "circuit_open";
    public const string Timeout = "timeout";
    public const string InvalidAnswer = "invalid_answer";

    public static readonly string[] All = [Unauthorized, Forbidden, Rejected, Unavailable, CircuitOpen, Timeout, InvalidAnswer];

    public static string Of(System.Net.HttpStatusCode status) => (int)status switch
    {
        401 => Unauthorized,
        403 => Forbidden,
        >= 500 => Unavailable,
        _ => Rejected,
    };
}
