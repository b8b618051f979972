namespace Agent33.Contracts;

/// <summary>
/// The services' names: the AppHost's resource names, which are also the service-discovery names the services reach
/// each other by, and the names of the generated Kubernetes objects.
/// </summary>
public static class ServiceNames
{
    public const string Gateway = "gateway";
    public const string Learning = "learning-service";
    public const string Routing = "routing";

    /// <summary>The base address a service is called at through Aspire service discovery (http or https, whichever it has).</summary>
    public static Uri DiscoveryAddress(string service) => new($"https+http://{service}");
}
