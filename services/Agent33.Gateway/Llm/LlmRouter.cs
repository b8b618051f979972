using Agent33.Gateway.Boundary;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm;

/// <summary>
/// One LLM call through the boundary, whatever API it came in by (<see cref="Formats.IInboundApi"/>: read into a chat
/// completion request) and whatever format its connector speaks (<see cref="Formats.IUpstreamFormat"/>), in named steps:
/// <see cref="LlmCall.ParseAsync">parse</see> → <see cref="ModelRouting.RouteAsync">route</see> (routing's decision, the
/// serving connectors) → <see cref="BudgetGate.ReserveAsync">reserve</see> (the spend step, <see cref="Spend.SpendReservations"/>)
/// → <see cref="ProviderForwarder.ForwardAsync">forward</see> (with fallback) → <see cref="UsageAccounting.AccountAsync">account</see>
/// (settle the reservation to the usage, or the estimate) → <see cref="AnswerAsync">answer</see>. Errors in the inbound API's shape.
/// </summary>
internal sealed class LlmRouter(
    BoundaryPipeline boundary, ModelRouting route, BudgetGate budget, ProviderForwarder forward, UsageAccounting account, LlmMetrics metrics,
    Spend.SpendMetrics spendMetrics, IOptions<LlmOptions> options)
{
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
            await account.AccountAsync(http, call, tap, last);
        }
        if (tap.EventTooLarge || tap.Decoder is not null || encoder is not null)
        {
            // After a cut the tap refuses every byte; a translated answer is complete: what follows is the gateway's own, in the API's shape.
            http.Features.Set(callerBody);
        }
        await AnswerAsync(http, call, tap, last, denied);
        await api.AfterAsync(http, call.Request, encoder, last is { } ended && ended.Outcome.Exception is null && ended.Outcome.Result.Kind == CallOutcome.Success);
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
}
