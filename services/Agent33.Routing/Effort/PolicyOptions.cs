namespace Agent33.Routing.Effort;

public sealed class PolicyOptions
{
    public Dictionary<string, string> Tenant { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Domain { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Keys are <c>tenant|domain</c>.</summary>
    public Dictionary<string, string> TenantDomain { get; set; } = new(StringComparer.Ordinal);
}
