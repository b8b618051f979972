namespace Agent33.AppHost;

/// <summary>Resource names, also the service-discovery names the services use to reach each other.</summary>
public static class ResourceNames
{
    public const string Postgres = "postgres";
    public const string LearningDatabase = "learning";
    public const string GatewayDatabase = "gateway-db";
    public const string Learning = "learning-service";
    public const string Routing = "routing";
    public const string Gateway = "gateway";
}
