using Agent33.Contracts;

namespace Agent33.AppHost;

/// <summary>
/// Keys for a local run, generated once and kept in the AppHost's user secrets: an admin key for
/// the operator (shown in the dashboard's parameters) and a service key the services use to call
/// each other (the routing and gateway services post learning signals; the gateway asks routing
/// for decisions). The service key holds <c>write</c> and <c>service</c>: it may name the tenant
/// it acts for, and it grants no admin operation.
/// </summary>
public sealed record ApiKeys(IResourceBuilder<ParameterResource> Admin, IResourceBuilder<ParameterResource> Service)
{
    public const string AdminTenant = "default";
    public const string ServiceTenant = "default";
}

public static class ApiKeyResources
{
    public static ApiKeys AddApiKeys(this IDistributedApplicationBuilder builder)
    {
        var generated = new GenerateParameterDefault { MinLength = 32, Special = false };
        return new ApiKeys(
            builder.AddParameter("admin-api-key", generated, secret: true, persist: true),
            builder.AddParameter("service-api-key", generated, secret: true, persist: true));
    }

    /// <summary>Every service accepts both keys; a service that calls another sends the service key.</summary>
    public static IResourceBuilder<ProjectResource> WithApiKeys(this IResourceBuilder<ProjectResource> project, ApiKeys keys) =>
        project
            .WithEnvironment("Auth__ApiKeys__0__Key", keys.Admin)
            .WithEnvironment("Auth__ApiKeys__0__Tenant", ApiKeys.AdminTenant)
            .WithEnvironment("Auth__ApiKeys__0__Scopes__0", "admin")
            .WithEnvironment("Auth__ApiKeys__1__Key", keys.Service)
            .WithEnvironment("Auth__ApiKeys__1__Tenant", ApiKeys.ServiceTenant)
            .WithEnvironment("Auth__ApiKeys__1__Scopes__0", "write")
            .WithEnvironment("Auth__ApiKeys__1__Scopes__1", "service")
            .WithEnvironment(SharedSettings.ServiceApiKey, keys.Service);
}
