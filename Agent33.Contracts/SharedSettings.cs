namespace Agent33.Contracts;

/// <summary>Configuration keys the AppHost sets for every service and the services read.</summary>
public static class SharedSettings
{
    /// <summary>The key (scopes <c>write</c> + <c>service</c>) a service sends when it calls another for its callers.</summary>
    public const string ServiceApiKey = "ServiceApiKey";
}
