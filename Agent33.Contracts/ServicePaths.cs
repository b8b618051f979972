namespace Agent33.Contracts;

/// <summary>The paths every service maps (the contract's "Everywhere"), which the AppHost and Kubernetes probe.</summary>
public static class ServicePaths
{
    /// <summary>Ready: the service's dependencies answer.</summary>
    public const string Health = "/health";

    /// <summary>Alive: the process serves requests.</summary>
    public const string Alive = "/alive";

    /// <summary>Prometheus text.</summary>
    public const string Metrics = "/metrics";
}
