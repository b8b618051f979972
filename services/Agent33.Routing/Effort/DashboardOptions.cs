namespace Agent33.Routing.Effort;

public sealed class DashboardOptions
{
    /// <summary>The rolling window of <c>/v1/dashboard/metrics</c>, next to the lifetime figures.</summary>
    public int WindowSeconds { get; set; } = 300;
}
