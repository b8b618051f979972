namespace Agent33.Routing.Effort;

public sealed class PricingOverride
{
    public string Provider { get; set; } = "";
    public string Model { get; set; } = "";
    public decimal? InputCostPerMillion { get; set; }
    public decimal? OutputCostPerMillion { get; set; }
    public string? SourceUrl { get; set; }
    public DateTimeOffset? FetchedAt { get; set; }
}
