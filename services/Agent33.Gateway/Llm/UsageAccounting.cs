using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The account step of an LLM call: the reservation settled to the usage the provider reported, or to the gateway's
/// estimate (<see cref="Spend.SpendReservations"/>), the tokens and time to first token counted (<see cref="LlmMetrics"/>),
/// and the call priced by routing's catalogue beside it (<see cref="EffortRoutingClient"/>).
/// </summary>
internal sealed partial class UsageAccounting(
    Spend.SpendReservations reservations, Spend.ModelPrices prices, Spend.SpendMetrics spendMetrics, LlmMetrics metrics, EffortRoutingClient routing,
    // The warning keeps the category it had before accounting was a type of its own (LlmRouter's): log filters name it.
    ILogger<LlmRouter> logger)
{
    /// <summary>Usage above this many tokens per call is not believed (as routing's <c>/v1/routing/usage</c> refuses it).</summary>
    public const long MaxTokensPerCall = 10_000_000;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _invalidUsageLogged = new(StringComparer.Ordinal);

    /// <summary>
    /// Account: every call that reached a provider is charged, once. The provider's usage when it reported a valid one;
    /// else (a stream cut by the caller, a timeout or the provider, a usage chunk that never came, usage not believable)
    /// the counted prompt and the tokens of the text relayed, marked estimated. The request count always moves.
    /// </summary>
    public async Task AccountAsync(HttpContext http, LlmCall call, UsageTap tap, (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last)
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
