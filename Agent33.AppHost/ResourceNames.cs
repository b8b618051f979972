using Agent33.Contracts;

namespace Agent33.AppHost;

/// <summary>Resource names, also the service-discovery names the services use to reach each other.</summary>
public static class ResourceNames
{
    public const string Postgres = "postgres";
    public const string LearningDatabase = "learning";
    public const string GatewayDatabase = "gateway-db";
    /// <summary>Redis holding the per-key write rate limits; also the connection string's name (ConnectionStrings:ratelimit).</summary>
    public const string RateLimitStore = "ratelimit";
    public const string Learning = ServiceNames.Learning;
    public const string Routing = ServiceNames.Routing;
    public const string Gateway = ServiceNames.Gateway;
}
