namespace Agent33.Routing.Effort;

/// <summary>How a usage was priced (<c>cost_status</c> of <see cref="Agent33.Contracts.Routing.PricedUsage"/>).</summary>
public static class CostStatus
{
    public const string Catalogue = "catalogue";
    public const string FlatRate = "flat_rate";
    public const string Unpriced = "unpriced";
}
