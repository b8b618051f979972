namespace Agent33.Routing.Effort;

/// <summary>A model's price and where the figure comes from.</summary>
public sealed record PricingEntry(
    decimal InputCostPerMillion,
    decimal OutputCostPerMillion,
    string Source,
    string? SourceUrl,
    string? FetchedAt);
