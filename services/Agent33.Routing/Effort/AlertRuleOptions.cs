namespace Agent33.Routing.Effort;

public sealed class AlertRuleOptions
{
    public string Name { get; set; } = "";
    public string Metric { get; set; } = "";
    public double Threshold { get; set; }

    /// <summary><c>gt</c>, <c>lt</c> or <c>eq</c>.</summary>
    public string Comparator { get; set; } = "gt";

    /// <summary><c>value</c>, <c>count</c>, <c>sum</c>, <c>avg</c>, <c>min</c> or <c>max</c>.</summary>
    public string Statistic { get; set; } = "value";
}
