using Agent33.Contracts.Routing;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Routing.Effort;

/// <summary>
/// What a call costs, estimated before it (the decision's token budget) and priced after it (the provider's usage):
/// the pricing catalogue's entry for the model, else the flat <c>Routing:CostPer1kTokens</c>, else nothing.
/// </summary>
public sealed class EffortPricing(PricingCatalog catalogue, double costPer1kTokens)
{
    private readonly PricingCatalog _catalogue = catalogue;
    private readonly double _costPer1kTokens = Math.Max(0, costPer1kTokens);

    /// <summary>The estimate of a decision's budget, with where its price came from.</summary>
    public sealed record CostEstimate(double Amount, string Status, string Source, string? SourceUrl, string? FetchedAt);

    public CostEstimate? Estimate(string model, string? provider, int budget)
    {
        if (!string.IsNullOrEmpty(provider) && _catalogue.Lookup(provider, model) is { } entry)
        {
            return new CostEstimate(PricingCatalog.Cost(entry, budget), "estimated", entry.Source, entry.SourceUrl, entry.FetchedAt);
        }
        if (_costPer1kTokens > 0)
        {
            return new CostEstimate(PythonRound.Round(budget / 1000.0 * _costPer1kTokens, 6), "estimated", "legacy_flat_rate", null, null);
        }
        return null;
    }

    /// <summary>
    /// Prices a call's actual usage with the catalogue the estimates use: the model's entry prices prompt tokens at
    /// its input and completion tokens at its output price; a model without one falls back, as an estimate does, to
    /// the flat <c>Routing:CostPer1kTokens</c> over all tokens, and with no flat rate either it stays unpriced.
    /// Rounded as the estimates are: catalogue prices quantized to 6 places half-even, the flat rate as Python's round.
    /// </summary>
    public PricedUsage PriceUsage(string model, string? provider, int promptTokens, int completionTokens)
    {
        var total = promptTokens + completionTokens;
        if (_catalogue.LookupModel(provider, model) is { } entry)
        {
            return new PricedUsage(model, promptTokens, completionTokens, total,
                PricingCatalog.Cost(entry, promptTokens, completionTokens), CostStatus.Catalogue, entry.Source);
        }
        if (_costPer1kTokens > 0)
        {
            return new PricedUsage(model, promptTokens, completionTokens, total,
                PythonRound.Round(total / 1000.0 * _costPer1kTokens, 6), CostStatus.FlatRate, "legacy_flat_rate");
        }
        return new PricedUsage(model, promptTokens, completionTokens, total, null, CostStatus.Unpriced, null);
    }
}
