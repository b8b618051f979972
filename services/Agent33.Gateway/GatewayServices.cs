using Agent33.Gateway.Boundary;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Monitoring;
using Agent33.ServiceDefaults.Signals;
using Yarp.ReverseProxy.Transforms;

namespace Agent33.Gateway;

public static class GatewayServices
{
    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GovernanceOptions>().BindConfiguration(GovernanceOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ConnectorRegistry>();
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<Governance>();
        builder.Services.AddSingleton<BoundaryPipeline>();
        builder.Services.AddSingleton<IncidentSignals>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IncidentSignals>());
        builder.Services.AddLearningServiceClient();

        // The catalogue becomes YARP's routes; building it here validates it at start (a bad setting stops the gateway).
        var catalog = new ConnectorCatalog(builder.Configuration, Microsoft.Extensions.Options.Options.Create(
            builder.Configuration.GetSection(GovernanceOptions.Section).Get<GovernanceOptions>() ?? new GovernanceOptions()));
        builder.Services.AddSingleton(catalog);
        var (routes, clusters) = ConnectorRoutes.Build(catalog);
        builder.Services.AddReverseProxy().LoadFromMemory(routes, clusters)
            .AddTransforms(transforms =>
            {
                if (catalog.Connectors.TryGetValue(transforms.Route.RouteId, out var connector) && connector.TakesCallerTargets)
                {
                    // The validated caller-supplied URL replaces destination + path.
                    transforms.AddRequestTransform(context =>
                    {
                        context.ProxyRequest.RequestUri = (Uri)context.HttpContext.Items[CallerTargets.ItemKey]!;
                        return ValueTask.CompletedTask;
                    });
                }
            });
        builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, CallerTargets.GuardedClientFactory>();
        return builder;
    }

    public static WebApplication MapConnectorProxy(this WebApplication app)
    {
        var boundary = app.Services.GetRequiredService<BoundaryPipeline>();
        app.MapReverseProxy(proxy => proxy.Use((context, next) => boundary.InvokeAsync(context, next)));
        return app;
    }
}
