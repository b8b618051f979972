using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The gateway as an OpenAI base URL (<c>{gateway}/v1</c>): <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c>,
/// <c>POST /v1/responses</c> (with its stored responses), and as an Anthropic one: <c>POST /v1/messages</c>.
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
        app.MapPost("/v1/chat/completions", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Chat))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An OpenAI chat completion, effort-routed and governed.")
            .DisableAntiforgery();
        app.MapPost("/v1/messages", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Messages))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An Anthropic Messages call, effort-routed and governed, served by any llm connector's format.")
            .DisableAntiforgery();
        app.MapPost("/v1/embeddings", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Embeddings))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("OpenAI embeddings, governed and charged like any call.")
            .DisableAntiforgery();
        app.MapPost("/v1/responses", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Responses))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An OpenAI Responses call, effort-routed and governed, served by any llm connector's format; stored for the tenant unless store is false.")
            .DisableAntiforgery();
        app.MapGet("/v1/responses/{id}", StoredResponses.GetEndpointAsync)
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("A stored response of the caller's tenant.");
        app.MapDelete("/v1/responses/{id}", StoredResponses.DeleteEndpointAsync)
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("Deletes a stored response of the caller's tenant.");
        return app;
    }

    private static readonly Formats.ChatCompletionsApi Chat = new();
    private static readonly Formats.MessagesApi Messages = new();
    private static readonly Formats.EmbeddingsApi Embeddings = new();
    private static readonly Formats.ResponsesApi Responses = new();

    public sealed record UsageRow(string Day, string Model, long Requests, long PromptTokens, long CompletionTokens, decimal CostUsd, decimal? BudgetUsd, long? BudgetTokens,
        bool Estimated, long EstimatedRequests);

    private static async Task<IResult> UsageAsync(HttpContext http, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "tenant_id")] string? tenantIdParameter, string? tenantId,
        int? days, Spend.ISpendStore spend, Spend.Budgets budgets)
    {
        if (days is < 1 or > 366)
        {
            return Agent33.ServiceDefaults.Problems.ApiProblem.BadRequest("invalid_days", "days must be between 1 and 366.");
        }
        // The contract's name is tenant_id; tenantId is still read for callers of the first version.
        var resolved = ApiCaller.From(http).ResolveTenant(tenantIdParameter ?? tenantId);
        if (resolved.Problem is { } problem)
        {
            return problem;
        }
        var tenant = resolved.Tenant!;
        var today = budgets.Today;
        var rows = await spend.RangeAsync(tenant, today.AddDays(-(days ?? 7) + 1), today, http.RequestAborted);
        var now = await spend.DayAsync(tenant, today, http.RequestAborted);
        var budget = budgets.For(tenant);
        return TypedResults.Ok(new
        {
            tenant_id = tenant,
            today = new { spent_tokens = now.Tokens, spent_usd = now.CostUsd, reserved_tokens = now.ReservedTokens, reserved_usd = now.ReservedUsd,
                budget_usd = budget?.DailyUsd, budget_tokens = budget?.DailyTokens },
            usage = rows.Select(r => new UsageRow(r.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r.Model, r.Requests,
                r.PromptTokens, r.CompletionTokens, r.CostUsd, budget?.DailyUsd, budget?.DailyTokens, r.EstimatedRequests > 0, r.EstimatedRequests)),
        });
    }
}

/// <summary>
/// One LLM call through the boundary, whatever API it came in by (<see cref="Formats.IInboundApi"/>: read into a chat
/// completion request) and whatever format its connector speaks (<see cref="Formats.IUpstreamFormat"/>), in named steps: <see cref="LlmCall.ParseAsync">parse</see> →
/// <see cref="ModelRouting.RouteAsync">route</see> (routing's decision, the serving connectors) → <see cref="BudgetGate.ReserveAsync">reserve</see>
/// (the spend step, <see cref="Spend.SpendReservations"/>) → <see cref="ProviderForwarder.ForwardAsync">forward</see> (with fallback) →
/// <see cref="AccountAsync">account</see> (settle the reservation to the usage, or the estimate) → answer. Errors in the inbound API's shape.
/// </summary>
internal sealed partial class LlmRouter(
    BoundaryPipeline boundary, ModelRouting route, BudgetGate budget, ProviderForwarder forward, EffortRoutingClient routing, LlmMetrics metrics,
    Spend.SpendReservations reservations, Spend.ModelPrices prices, Spend.SpendMetrics spendMetrics, IOptions<LlmOptions> options, ILogger<LlmRouter> logger)
{
    /// <summary>Usage above this many tokens per call is not believed (as routing's <c>/v1/routing/usage</c> refuses it).</summary>
    public const long MaxTokensPerCall = 10_000_000;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _invalidUsageLogged = new(StringComparer.Ordinal);

    public async Task CompleteAsync(HttpContext http, Formats.IInboundApi api)
    {
        if (await boundary.RefuseUnsendableAsync(http, null, HttpMethods.Post, api.Errors))
        {
            return;
        }
        if (await LlmCall.ParseAsync(http, api) is not { } call || !await route.RouteAsync(http, call) || !await budget.ReserveAsync(http, call))
        {
            return;
        }
        var callerBody = http.Features.Get<IHttpResponseBodyFeature>()!;
        var encoder = api.Answers(new Formats.TranslationContext(call.Model, call.PromptTokens), http);
        // The usage chunk the gateway asked for is dropped unless the caller asked too, or another API's answer needs it.
        var tap = new UsageTap(callerBody, dropUsageEvent: call.Streaming && !call.CallerWantsUsage && encoder is null,
            options.Value.MaxEventBytes, TokenCounter.For(call.Model), encoder) { Response = http.Response };
        (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last = null;
        string? denied = null;
        try
        {
            (last, denied) = await forward.ForwardAsync(http, call, tap);
            route.RecordExplicitModel(call);
        }
        finally
        {
            // Every call that reserved is settled, whatever happened to it.
            await AccountAsync(http, call, tap, last);
        }
        if (tap.EventTooLarge || tap.Decoder is not null || encoder is not null)
        {
            // After a cut the tap refuses every byte; a translated answer is complete: what follows is the gateway's own, in the API's shape.
            http.Features.Set(callerBody);
        }
        await AnswerAsync(http, call, tap, last, denied);
        await api.AfterAsync(http, call.Request, encoder, last is { } ended && ended.Outcome.Exception is null && ended.Outcome.Result.Kind == CallOutcome.Success);
    }

    /// <summary>
    /// Account: every call that reached a provider is charged, once. The provider's usage when it reported a valid one;
    /// else (a stream cut by the caller, a timeout or the provider, a usage chunk that never came, usage not believable)
    /// the counted prompt and the tokens of the text relayed, marked estimated. The request count always moves.
    /// </summary>
    private async Task AccountAsync(HttpContext http, LlmCall call, UsageTap tap, (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last)
    {
        try
        {
            await tap.CompleteUsageAsync(http.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // the caller left before the last bytes: the usage read so far is what is charged
        }
        if (tap.FirstByte is { } firstByte)
        {
            metrics.TimeToFirstToken(call.ApiLabel, firstByte);
        }
        if (last is not { } ended)
        {
            if (call.Reservation is not null)
            {
                await reservations.SettleAsync(call.Reservation, call.Tenant, call.Model, default, call.Day); // nothing was sent: only released
            }
            return;
        }
        var connectorId = ended.Call.Connector.Options.Id;
        var served = call.ModelLabel;
        var usage = tap.Usage;
        var prompt = Believable(usage?.PromptTokens);
        // Embeddings report no completion: there is none to charge.
        var completion = call.Embeddings && usage?.CompletionTokens is null && prompt is not null ? 0 : Believable(usage?.CompletionTokens);
        var invalid = usage is { } u && (u.Unreadable || (u.PromptTokens is not null && prompt is null) || (u.CompletionTokens is not null && completion is null));
        if (invalid)
        {
            spendMetrics.InvalidUsage(connectorId);
            if (_invalidUsageLogged.TryAdd(connectorId, 0))
            {
                LogInvalidUsage(logger, connectorId, usage!.Value.PromptTokens, usage.Value.CompletionTokens);
            }
        }
        var cancelled = (ended.Outcome.Exception is null && ended.Outcome.Result.Kind == CallOutcome.ClientCancelled) || ended.Call.CallerAborted.IsCancellationRequested;
        Spend.Charge charge;
        if (prompt is { } p && completion is { } c)
        {
            charge = new Spend.Charge(p, c, 0m, Estimated: false);
        }
        else if (tap.Answered || cancelled || invalid)
        {
            charge = new Spend.Charge(prompt ?? call.PromptTokens, completion ?? Math.Min(tap.CountedCompletionTokens, MaxTokensPerCall), 0m, Estimated: true);
            spendMetrics.Estimated();
        }
        else
        {
            charge = default; // the provider answered nothing it charges for (an error before any answer)
        }
        var settledCost = prices.Known(call.Model)?.Of(charge.PromptTokens, charge.CompletionTokens) ?? 0m;
        charge = charge with { CostUsd = settledCost };
        metrics.Tokens(call.ApiLabel, served, charge.PromptTokens, charge.CompletionTokens, charge.Estimated ? "estimated" : "provider");
        await reservations.SettleAsync(call.Reservation, call.Tenant, call.Model, charge, call.Day);
        if (charge.PromptTokens + charge.CompletionTokens > 0)
        {
            // The price by routing's catalogue is added beside the call (nothing the caller waits for), as a
            // correction of the one charged at settlement from the known prices.
            _ = AddPriceAsync(call, served, charge, settledCost);
        }
    }

    /// <summary>Answer: how the last attempt ended, in OpenAI's shape; a stream ended for an oversized event is complete already.</summary>
    private async Task AnswerAsync(HttpContext http, LlmCall call, UsageTap tap, (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last, string? denied)
    {
        var served = call.ModelLabel;
        var effortLabel = call.Decision?.Effort ?? "none";
        if (last is not { } ended)
        {
            if (denied is null && call.Untranslatable is { } untranslatable)
            {
                // What the caller asked for has no equivalent in any serving connector's format: the caller's to change.
                metrics.Request(call.ApiLabel, served, "none", effortLabel, CallOutcome.CallerError.Label());
                await OutcomeWriter.ReplaceWithErrorAsync(http, call.Api.Errors, 400, "invalid_request", untranslatable);
                return;
            }
            metrics.Request(call.ApiLabel, served, "none", effortLabel, "governance_blocked");
            await OutcomeWriter.ReplaceWithErrorAsync(http, call.Api.Errors, 403, "governance_blocked", denied!);
            return;
        }
        var (finalCall, finalOutcome) = ended;
        var connectorId = finalCall.Connector.Options.Id;
        if (tap.EventTooLarge)
        {
            spendMetrics.EventTooLarge(connectorId);
            metrics.Request(call.ApiLabel, served, connectorId, effortLabel, CallOutcome.Failure.Label());
            if (!http.Response.HasStarted)
            {
                await OutcomeWriter.ReplaceWithErrorAsync(http, call.Api.Errors, 502, "http_error",
                    $"Connector '{connectorId}' sent an event larger than the gateway relays ({options.Value.MaxEventBytes} bytes, Llm:MaxEventBytes), or a whole answer to translate larger than {UsageTap.MaxTranslatedBytes} bytes.");
            }
            return;
        }
        var kind = finalOutcome.Exception is not null ? CallOutcome.Failure : finalOutcome.Result.Kind;
        metrics.Request(call.ApiLabel, served, connectorId, effortLabel, kind.Label());
        await boundary.AnswerAsync(http, finalCall, finalOutcome, call.Api.Errors, tap.Translates ? tap.TranslateError : null);
    }

    private static long? Believable(long? tokens) => tokens is >= 0 and <= MaxTokensPerCall ? tokens : null;

    /// <summary>Prices a call's usage with routing's catalogue and adds the difference to what settlement charged, beside the call.</summary>
    private async Task AddPriceAsync(LlmCall call, string served, Spend.Charge charge, decimal charged)
    {
        try
        {
            if (await routing.PriceAsync(call.Tenant, call.Model, charge.PromptTokens, charge.CompletionTokens, call.Decision, CancellationToken.None) is { } cost)
            {
                metrics.Cost(call.ApiLabel, served, (double)cost);
                if (cost != charged)
                {
                    await reservations.AddCostAsync(call.Tenant, call.Reservation?.Day ?? call.Day, call.Model, cost - charged);
                }
            }
            else if (charged == 0m)
            {
                metrics.Unpriced();
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            metrics.Unpriced(); // the tokens are recorded; only this call's cost is missing, and it is counted
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connector {Connector} reported usage that is not believable (prompt {Prompt}, completion {Completion} tokens); the call is charged an estimate. Logged once per connector; llm_usage_invalid_total counts each.")]
    private static partial void LogInvalidUsage(ILogger logger, string connector, long? prompt, long? completion);
}
