using Agent33.Contracts;
using Microsoft.Extensions.Configuration;

namespace Agent33.AppHost;

/// <summary>
/// The opt-in demo (<c>dotnet run --project Agent33.AppHost -- --demo</c>, or <c>Demo:Enabled=true</c>): a
/// resource that stands in for the outside world (a steady and a flapping HTTP upstream, an MCP tool
/// server) and drives traffic through all three services, plus the gateway connectors that reach it.
/// Off by default: a normal run has no demo connectors and no synthetic traffic.
/// </summary>
public static class DemoWorkload
{
    public const string Flag = "--demo";
    public const string ResourceName = "demo-workload";

    public static bool IsRequested(string[] args, IConfiguration configuration) =>
        args.Contains(Flag) || configuration.GetValue<bool>("Demo:Enabled");

    public static void AddDemoWorkload(
        this IDistributedApplicationBuilder builder,
        IResourceBuilder<ProjectResource> gateway,
        IResourceBuilder<ProjectResource> routing,
        IResourceBuilder<ProjectResource> learning,
        ApiKeys keys)
    {
        var demo = builder.AddProject<Projects.Agent33_Demo>(ResourceName)
            .HttpOnly()
            .WithReference(gateway)
            .WithReference(routing)
            .WithReference(learning)
            .WithApiKeys(keys)
            .WaitFor(gateway)
            .WaitFor(routing)
            .WaitFor(learning)
            .WithHttpHealthCheck(ServicePaths.Health);
        var upstream = demo.GetEndpoint("http");

        // High indices keep the demo connectors clear of any catalogue in the gateway's appsettings.
        gateway
            .WithEnvironment("Connectors__90__Id", "llm:demo-stable")
            .WithEnvironment("Connectors__90__Kind", "http")
            .WithEnvironment("Connectors__90__Destination", ReferenceExpression.Create($"{upstream}/upstream/stable"))
            .WithEnvironment("Connectors__91__Id", "llm:demo-flaky")
            .WithEnvironment("Connectors__91__Kind", "http")
            .WithEnvironment("Connectors__91__Destination", ReferenceExpression.Create($"{upstream}/upstream/flaky"))
            .WithEnvironment("Connectors__91__RetryAttempts", "1")
            .WithEnvironment("Connectors__91__Circuit__RecoveryTimeoutSeconds", "5")
            .WithEnvironment("Connectors__91__Circuit__MaxRecoveryTimeoutSeconds", "20")
            .WithEnvironment("Connectors__92__Id", "mcp:demo")
            .WithEnvironment("Connectors__92__Kind", "mcp")
            .WithEnvironment("Connectors__92__Destination", ReferenceExpression.Create($"{upstream}/mcp"))
            .WithEnvironment("Connectors__92__Tools__Deny__0", "delete_*")
            // Two providers of the same models: calls fall back to the backup while the primary is down.
            .WithEnvironment("Connectors__93__Id", "llm:demo-primary")
            .WithEnvironment("Connectors__93__Kind", "llm")
            .WithEnvironment("Connectors__93__Destination", ReferenceExpression.Create($"{upstream}/llm/primary/v1"))
            .WithEnvironment("Connectors__93__Models__0", "*")
            .WithEnvironment("Connectors__93__RetryAttempts", "0")
            .WithEnvironment("Connectors__93__Circuit__RecoveryTimeoutSeconds", "5")
            .WithEnvironment("Connectors__94__Id", "llm:demo-backup")
            .WithEnvironment("Connectors__94__Kind", "llm")
            .WithEnvironment("Connectors__94__Destination", ReferenceExpression.Create($"{upstream}/llm/backup/v1"))
            .WithEnvironment("Connectors__94__Models__0", "*")
            // The demo's tenant (the service key's, "default") runs out of its token budget in about three minutes.
            .WithEnvironment("Llm__Budgets__default__DailyTokens", "12000");
    }
}
