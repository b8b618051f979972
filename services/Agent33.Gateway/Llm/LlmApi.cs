using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Llm;

public sealed class LlmOptions
{
    public const string Section = "Llm";

    /// <summary>The model used when the routing service does not answer.</summary>
    public string DefaultModel { get; set; } = "gpt-4o-mini";

    /// <summary>The token budget routing starts from when a call names none (the router scales it by effort).</summary>
    public int DefaultMaxTokens { get; set; } = 4096;

    /// <summary>Per-tenant daily budgets (<c>Llm:Budgets:&lt;tenant&gt;:DailyUsd</c>, <c>:DailyTokens</c>).</summary>
    public Dictionary<string, Spend.LlmBudget> Budgets { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The gateway as an OpenAI base URL (<c>{gateway}/v1</c>): <c>GET /v1/models</c> and <c>POST /v1/chat/completions</c>.
/// <c>model: "auto"</c> (or none) asks the routing service for the call's effort, model and token budget; the model is
/// served by the first <c>llm</c> connector whose globs match it, through the whole boundary pipeline (governance,
/// timeout, breaker, metrics); on <c>circuit_open</c>, a timeout, a 5xx or a 429 the next matching connector is tried.
/// </summary>
public static class LlmApi
{
    public static IEndpointRouteBuilder MapLlmApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/models", (ConnectorCatalog catalog) => TypedResults.Ok(new
            {
                @object = "list",
                data = catalog.Connectors.Values.Where(c => c.Kind == "llm").SelectMany(c => c.Models).Prepend("auto").Distinct()
                    .Select(model => new { id = model, @object = "model", created = 0, owned_by = "agent33" }),
            }))
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("Every model the llm connectors serve, and auto.");
        app.MapGet("/v1/llm/usage", UsageAsync)
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("A tenant's LLM spend per UTC day and model, with its budgets.");
        app.MapPost("/v1/chat/completions", ChatCompletionsAsync)
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An OpenAI chat completion, effort-routed and governed.")
            .DisableAntiforgery();
        return app;
    }

    private static async Task ChatCompletionsAsync(HttpContext http, LlmRouter router) => await router.CompleteAsync(http);

    public sealed record UsageRow(string Day, string Model, long Requests, long PromptTokens, long CompletionTokens, decimal CostUsd, decimal? BudgetUsd, long? BudgetTokens);

    private static async Task<IResult> UsageAsync(HttpContext http, string? tenantId, int? days, Spend.ISpendStore spend, Spend.Budgets budgets)
    {
        if (days is < 1 or > 366)
        {
            return Agent33.ServiceDefaults.Problems.ApiProblem.BadRequest("invalid_days", "days must be between 1 and 366.");
        }
        var resolved = ApiCaller.From(http).ResolveTenant(tenantId);
        if (resolved.Problem is { } problem)
        {
            return problem;
        }
        var tenant = resolved.Tenant!;
        var today = budgets.Today;
        var rows = await spend.RangeAsync(tenant, today.AddDays(-(days ?? 7) + 1), today, http.RequestAborted);
        var budget = budgets.For(tenant);
        return TypedResults.Ok(new
        {
            tenant_id = tenant,
            usage = rows.Select(r => new UsageRow(r.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r.Model, r.Requests,
                r.PromptTokens, r.CompletionTokens, r.CostUsd, budget?.DailyUsd, budget?.DailyTokens)),
        });
    }
}

/// <summary>One chat completion through the boundary, with routing and fallback; errors in OpenAI's shape.</summary>
public sealed class LlmRouter(
    ConnectorRegistry registry, BoundaryPipeline boundary, EffortRoutingClient routing, LlmMetrics metrics, IHttpForwarder forwarder, Spend.Budgets budgets, Spend.ISpendStore spend, IOptions<LlmOptions> options)
{
    private readonly Dictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    public async Task CompleteAsync(HttpContext http)
    {
        if (await boundary.RefuseUnsendableAsync(http, null, HttpMethods.Post, ErrorShape.OpenAi))
        {
            return;
        }
        JsonObject request;
        try
        {
            request = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted) as JsonObject
                      ?? throw new JsonException("The body must be a JSON object.");
        }
        catch (JsonException ex)
        {
            await ErrorAsync(http, 400, "invalid_json", $"The request body is not valid JSON: {ex.Message}");
            return;
        }
        if (request["messages"] is not JsonArray { Count: > 0 } messages)
        {
            await ErrorAsync(http, 400, "invalid_request", "messages must be a non-empty array.");
            return;
        }
        var requested = request["model"] is JsonValue m && m.TryGetValue<string>(out var name) ? name : null;
        if (request["model"] is not null and not JsonValue || (request["model"] is JsonValue && requested is null))
        {
            await ErrorAsync(http, 400, "invalid_request", "model must be a string.");
            return;
        }
        if (requested is not null && !ModelNames.IsValid(requested))
        {
            await ErrorAsync(http, 400, "invalid_request",
                $"model must be printable, at most {ModelNames.MaxLength} characters, without whitespace or control characters.");
            return;
        }
        var effort = request["reasoning_effort"] is JsonValue e && e.TryGetValue<string>(out var asked) && asked is "low" or "medium" or "high" ? asked : null;
        var budgetField = request.ContainsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        var maxTokens = request[budgetField] is JsonValue t && t.TryGetValue<int>(out var tokens) ? tokens : (int?)null;
        var tenant = ApiCaller.From(http).Tenant;
        if (await budgets.CheckAsync(tenant, http.RequestAborted) is { } refusal)
        {
            OutcomeWriter.RetryAfter(http.Response, refusal.RetryAfter);
            await OutcomeWriter.ErrorAsync(http, ErrorShape.OpenAi, 429, "budget_exceeded",
                $"Tenant '{tenant}' has reached its daily LLM budget ({refusal.Budget}); it resets at the next UTC midnight.");
            return;
        }

        // The routing service decides effort, model and budget; an explicit model is honoured and still recorded.
        var auto = requested is null || requested == "auto";
        var domain = http.Request.Headers["X-Agent33-Domain"].FirstOrDefault();
        Task<RoutingDecision?> Decide(CancellationToken cancellationToken) => routing.DecideAsync(tenant, domain, effort, messages,
            maxTokens ?? options.Value.DefaultMaxTokens, auto ? null : requested, options.Value.DefaultModel, cancellationToken);
        var decision = auto ? await Decide(http.RequestAborted) : null;
        if (auto && decision is null)
        {
            metrics.RoutingFailed();
        }
        var model = auto ? decision?.Model ?? options.Value.DefaultModel : requested!;
        request["model"] = model;
        if (auto && decision?.MaxTokens is { } budget)
        {
            request[budgetField] = budget;
        }
        var streaming = request["stream"] is JsonValue s && s.TryGetValue<bool>(out var stream) && stream;
        var callerWantsUsage = request["stream_options"]?["include_usage"] is JsonValue u && u.TryGetValue<bool>(out var include) && include;
        if (streaming)
        {
            request["stream_options"] = new JsonObject { ["include_usage"] = true };
        }
        var body = JsonSerializer.SerializeToUtf8Bytes(request);

        var candidates = registry.All.Where(c => c.Options.Kind == "llm" && c.Options.Models.Any(glob => Glob.Matches(glob, model, ignoreCase: true))).ToList();
        if (candidates.Count == 0)
        {
            await ErrorAsync(http, 404, "model_not_served", $"No llm connector serves model '{model}'.");
            return;
        }
        var served = ModelLabel(candidates[0].Options, model);
        var effortLabel = decision?.Effort ?? "none";

        var tap = new UsageTap(http.Features.Get<IHttpResponseBodyFeature>()!, dropUsageEvent: streaming && !callerWantsUsage) { Response = http.Response };
        http.Features.Set<IHttpResponseBodyFeature>(tap);
        http.Request.Headers.ContentLength = body.Length;
        http.Request.ContentType = "application/json";
        (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last = null;
        ConnectorRuntime? from = null;
        string? denied = null;
        var methodOverrides = HeaderPolicy.MethodOverrides(http.Request.Headers);
        foreach (var connector in candidates)
        {
            if (boundary.Govern(connector.Options, Door.Llm, HttpMethods.Post, null, null, methodOverrides, "POST") is { } denial)
            {
                denied ??= denial.Reason;
                continue;
            }
            if (from is not null)
            {
                metrics.Fallback(from.Options.Id, connector.Options.Id);
            }
            http.Request.Body = new MemoryStream(body, writable: false);
            var transformer = new ProviderTransformer(connector.Options, decision, model);
            var current = connector;
            last = await boundary.ExecuteAsync(http, connector,
                async () => await forwarder.SendAsync(http, connector.Options.Destination, ClientFor(current.Options), ForwarderRequestConfig.Empty, transformer),
                "POST", canRetry: false, TimeSpan.FromSeconds(connector.Options.TimeoutSeconds), holdAll: false);
            from = connector;
            var (call, outcome) = last.Value;
            var result = outcome.Result;
            var fallBack = !http.Response.HasStarted && outcome.Exception is null && !call.CallerAborted.IsCancellationRequested
                           && (result.Kind is CallOutcome.CircuitOpen or CallOutcome.Timeout or CallOutcome.Failure || result is { Kind: CallOutcome.ClientError, StatusCode: 429 });
            if (!fallBack)
            {
                break;
            }
        }

        if (!auto)
        {
            // An explicit model never waits for routing, and its decision is recorded there once the answer is complete,
            // so that call shares neither the caller's time to first token nor the cores the answer is relayed on.
            _ = Decide(CancellationToken.None);
        }
        await tap.CompleteUsageAsync(http.RequestAborted);
        if (tap.FirstByte is { } firstByte)
        {
            metrics.TimeToFirstToken(firstByte);
        }
        if (tap.PromptTokens is not null || tap.CompletionTokens is not null)
        {
            // Tokens count against the budget of the day the call started before the caller has the end of the answer;
            // the price (routing's catalogue: pricing lives in one place) is added once the answer is complete, so a
            // slow or absent routing service never holds the caller.
            var (prompt, completion) = (tap.PromptTokens ?? 0, tap.CompletionTokens ?? 0);
            var day = budgets.Today;
            metrics.Usage(served, prompt, completion);
            await spend.AddAsync(tenant, day, model, requests: 1, prompt, completion, costUsd: 0m, CancellationToken.None);
            _ = AddPriceAsync(tenant, day, model, served, prompt, completion, decision);
        }

        if (last is not { } ended)
        {
            metrics.Request(served, "none", effortLabel, "governance_blocked");
            await ErrorAsync(http, 403, "governance_blocked", denied!);
            return;
        }
        var (finalCall, finalOutcome) = ended;
        var kind = finalOutcome.Exception is not null ? CallOutcome.Failure : finalOutcome.Result.Kind;
        metrics.Request(served, finalCall.Connector.Options.Id, effortLabel, kind.Label());
        await boundary.AnswerAsync(http, finalCall, finalOutcome, ErrorShape.OpenAi);
    }

    /// <summary>Prices a call's usage and adds the cost to the spend, beside the call (nothing the caller waits for).</summary>
    private async Task AddPriceAsync(string tenant, DateOnly day, string model, string served, long prompt, long completion, RoutingDecision? decision)
    {
        try
        {
            if (await routing.PriceAsync(tenant, model, prompt, completion, decision, CancellationToken.None) is { } cost)
            {
                metrics.Cost(served, (double)cost);
                await spend.AddAsync(tenant, day, model, requests: 0, 0, 0, cost, CancellationToken.None);
            }
            else
            {
                metrics.Unpriced();
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            metrics.Unpriced(); // the tokens are recorded; only this call's cost is missing, and it is counted
        }
    }

    /// <summary>A bounded model label: the glob that served the model when it has wildcards, else the model.</summary>
    private static string ModelLabel(ConnectorOptions connector, string model)
    {
        var glob = connector.Models.First(g => Glob.Matches(g, model, ignoreCase: true));
        return glob.Contains('*') || glob.Contains('?') ? glob : model;
    }

    private HttpMessageInvoker ClientFor(ConnectorOptions connector)
    {
        lock (_clients)
        {
            if (!_clients.TryGetValue(connector.Id, out var client))
            {
                client = new HttpMessageInvoker(new SocketsHttpHandler
                {
                    UseProxy = false,
                    AllowAutoRedirect = false,
                    AutomaticDecompression = System.Net.DecompressionMethods.None,
                    UseCookies = false,
                    ConnectTimeout = TimeSpan.FromSeconds(15),
                    EnableMultipleHttp2Connections = true,
                });
                _clients[connector.Id] = client;
            }
            return client;
        }
    }

    /// <summary>OpenAI's error shape, with the contract's code, replacing whatever a failed attempt left.</summary>
    private static Task ErrorAsync(HttpContext http, int status, string code, string message)
    {
        http.Response.Clear();
        return OutcomeWriter.ErrorAsync(http, ErrorShape.OpenAi, status, code, message);
    }

    /// <summary>Sends the call to the provider's chat completions with the provider's key, never the caller's.</summary>
    private sealed class ProviderTransformer(ConnectorOptions connector, RoutingDecision? decision, string model) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + "/chat/completions");
            HeaderPolicy.Apply(http.Request, proxyRequest, connector.ApiKey);
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext http, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            var proceed = await base.TransformResponseAsync(http, proxyResponse, cancellationToken);
            if (proxyResponse is not null && http.Features.Get<IHttpResponseBodyFeature>() is AttemptResponseBody body)
            {
                body.OnHeaders(proxyResponse);
            }
            var headers = http.Response.Headers;
            headers[BoundaryPipeline.ConnectorHeader] = connector.Id;
            headers["X-Agent33-Model"] = model;
            if (decision is not null)
            {
                headers["X-Agent33-Effort"] = decision.Effort;
                headers["X-Agent33-Effort-Source"] = decision.EffortSource;
            }
            return proceed;
        }
    }
}
