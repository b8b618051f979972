using System.Collections.Concurrent;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>A model's prices per token, as routing's catalogue has them.</summary>
public readonly record struct UnitPrices(decimal Prompt, decimal Completion)
{
    public decimal Of(long promptTokens, long completionTokens) => Prompt * promptTokens + Completion * completionTokens;
}

/// <summary>
/// Per-token prices of each model, learnt from routing's pricing catalogue (<see cref="EffortRoutingClient.PriceAsync"/>,
/// where pricing lives) and kept for <see cref="Lifetime"/>, so reserving and settling a call price it without a
/// round trip. Routing prices linearly (per million prompt and completion tokens, or a flat rate per token), so one
/// million prompt tokens and one million completion tokens give both prices; those two reports are the only pricing
/// calls that are not a real call's usage (once per model per <see cref="Lifetime"/>). Unknown (routing down, or no
/// price): null, and the reservation holds tokens only.
/// </summary>
public sealed class ModelPrices(EffortRoutingClient routing, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RetryUnknownAfter = TimeSpan.FromMinutes(1);
    private const long Probe = 1_000_000;

    private readonly ConcurrentDictionary<string, (UnitPrices? Prices, DateTimeOffset Until)> _known = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Lazy<Task<UnitPrices?>>> _learning = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The prices if known now, without waiting.</summary>
    public UnitPrices? Known(string model) => _known.TryGetValue(model, out var entry) ? entry.Prices : null;

    /// <summary>The prices, learning them first when they are not known or are stale.</summary>
    public async Task<UnitPrices?> GetAsync(string tenant, string model, CancellationToken cancellationToken)
    {
        if (_known.TryGetValue(model, out var entry) && entry.Until > time.GetUtcNow())
        {
            return entry.Prices;
        }
        var learning = _learning.GetOrAdd(model, _ => new Lazy<Task<UnitPrices?>>(() => LearnAsync(tenant, model)));
        try
        {
            return await learning.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            if (learning.Value.IsCompleted)
            {
                _learning.TryRemove(new KeyValuePair<string, Lazy<Task<UnitPrices?>>>(model, learning));
            }
        }
    }

    private async Task<UnitPrices?> LearnAsync(string tenant, string model)
    {
        var prompt = routing.PriceAsync(tenant, model, Probe, 0, null, CancellationToken.None);
        var completion = routing.PriceAsync(tenant, model, 0, Probe, null, CancellationToken.None);
        UnitPrices? prices = await prompt is { } p && await completion is { } c ? new UnitPrices(p / Probe, c / Probe) : null;
        _known[model] = (prices ?? Known(model), time.GetUtcNow() + (prices is null ? RetryUnknownAfter : Lifetime));
        return prices ?? Known(model);
    }
}
