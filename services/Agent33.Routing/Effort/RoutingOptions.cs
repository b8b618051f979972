namespace Agent33.Routing.Effort;

/// <summary>
/// The router's settings (<c>Routing:*</c>). <c>Routing:Profile</c> picks one of the shipped profiles
/// (default <c>reference-defaults</c>); any explicit key overrides the profile's value.
/// </summary>
public sealed class RoutingOptions
{
    public const string Section = "Routing";
    public const string DefaultProfile = "reference-defaults";

    public string Profile { get; set; } = DefaultProfile;
    public bool Enabled { get; set; } = true;
    public string DefaultEffort { get; set; } = "medium";
    public bool HeuristicEnabled { get; set; } = true;
    public PerEffort<string?> Models { get; set; } = new();
    public PerEffort<double> TokenMultipliers { get; set; } = new() { Low = 1, Medium = 1, High = 1 };
    public PolicyOptions Policies { get; set; } = new();
    public double CostPer1kTokens { get; set; }
    public HeuristicOptions Heuristic { get; set; } = new();

    /// <summary>Operator pricing entries, looked up before the shipped catalogue (<c>Routing:Pricing:Overrides:&lt;n&gt;</c>).</summary>
    public List<PricingOverride> PricingOverrides { get; set; } = [];

    public AlertOptions Alerts { get; set; } = new();
    public ExportOptions Export { get; set; } = new();
    public DashboardOptions Dashboard { get; set; } = new();
}
