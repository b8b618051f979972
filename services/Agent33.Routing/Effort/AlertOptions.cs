namespace Agent33.Routing.Effort;

public sealed class AlertOptions
{
    public bool Enabled { get; set; } = true;
    public double HighEffortCountThreshold { get; set; } = 25;
    public double HighCostUsdThreshold { get; set; } = 5.0;
    public double HighTokenBudgetThreshold { get; set; } = 8000;

    /// <summary>Further rules next to the three defaults (<c>Routing:Alerts:Rules:&lt;n&gt;</c>).</summary>
    public List<AlertRuleOptions> Rules { get; set; } = [];
}
