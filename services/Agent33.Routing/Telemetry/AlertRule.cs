using Agent33.Routing.Effort;

namespace Agent33.Routing.Telemetry;

/// <summary>A rule that fires when a metric's statistic compares true against a threshold.</summary>
public sealed record AlertRule(string Name, string Metric, double Threshold, string Comparator, string Statistic)
{
    public bool Holds(double value) => Comparator switch
    {
        "gt" => value > Threshold,
        "lt" => value < Threshold,
        _ => value == Threshold,
    };
}
