using Agent33.Gateway.Boundary;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Catalog;
using Agent33.Gateway.Signals;
using Agent33.ServiceDefaults.Signals;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;

namespace Agent33.Gateway;

public static class GatewayServices
{
    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GovernanceOptions>().BindConfiguration(GovernanceOptions.Section);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<Governance>();
        builder.Services.AddSingleton<Mcp.ToolRateLimits>();
        builder.Services.AddSingleton(Mcp.PinningSettings.Parse(builder.Configuration[Mcp.PinningSettings.Key]));
        builder.Services.AddSingleton<Mcp.IToolPins, Mcp.ToolPins>();
        builder.Services.AddSingleton<Mcp.McpSessionAffinity>();
        AddSharedKeyRing(builder);
        builder.Services.AddOptions<Mcp.McpAuditOptions>().BindConfiguration(Mcp.McpAuditOptions.Section);
        builder.Services.AddSingleton<Mcp.McpAudit>();
        builder.Services.AddHostedService<Mcp.McpAuditWriter>();
        builder.Services.AddHostedService<Mcp.McpAuditRetention>();
        builder.Services.AddSingleton<ConnectorResilience>();
        builder.Services.AddSingleton<TargetSockets>();
        builder.Services.AddSingleton<BoundaryPipeline>();
        builder.Services.AddSingleton<Connectors.ConnectorDoor>();
        builder.AddMcpAggregate();
        builder.Services.AddSingleton<IncidentSignals>();
        builder.Services.AddOptions<Llm.LlmOptions>().BindConfiguration(Llm.LlmOptions.Section);
        builder.Services.AddSingleton<Llm.LlmMetrics>();
        // The LLM route and its steps (parse is LlmCall's own): route, reserve, forward, account.
        builder.Services.AddSingleton<Llm.LlmRouter>();
        builder.Services.AddSingleton<Llm.ModelRouting>();
        builder.Services.AddSingleton<Llm.BudgetGate>();
        builder.Services.AddSingleton<Llm.ProviderForwarder>();
        builder.Services.AddSingleton<Llm.UsageAccounting>();
        builder.Services.AddSingleton<Llm.Spend.Budgets>();
        builder.Services.AddSingleton<Llm.Spend.SpendMetrics>();
        builder.Services.AddSingleton<Llm.Spend.ModelPrices>();
        builder.Services.AddSingleton<Llm.Spend.SpendReservations>();
        builder.Services.AddHostedService<Llm.Spend.ReservationKeeper>();
        if (Llm.Spend.GatewayDatabase.IsConfigured(builder.Configuration))
        {
            // Spend shared by every replica; Aspire's integration adds the health check, tracing and metrics.
            builder.AddNpgsqlDbContext<Llm.Spend.GatewayDbContext>(Llm.Spend.GatewayDatabase.ConnectionName, settings =>
            {
                settings.DisableRetry = true;
                // The same few statements run on every LLM call (reserve, settle) and MCP call (pins, audit): prepared
                // once per connection, they skip parsing and planning, a good part of a reservation's time to first token.
                settings.ConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(settings.ConnectionString) { MaxAutoPrepare = 32, AutoPrepareMinUsages = 2 }.ConnectionString;
            });
            builder.Services.AddSingleton<Llm.Spend.ISpendStore, Llm.Spend.PostgresSpendStore>();
            builder.Services.AddSingleton<Llm.IResponseStore, Llm.PostgresResponseStore>();
            builder.Services.AddSingleton<Mcp.IToolPinStore, Mcp.PostgresToolPinStore>();
            builder.Services.AddSingleton<Mcp.IMcpAuditStore, Mcp.PostgresMcpAuditStore>();
            // /mcp sessions recorded as begun, so any replica takes one over (the SDK finds the handler among the services).
            builder.Services.AddSingleton<Connectors.McpSessionMigration>();
            builder.Services.AddSingleton<ModelContextProtocol.AspNetCore.ISessionMigrationHandler>(s => s.GetRequiredService<Connectors.McpSessionMigration>());
            builder.Services.AddHostedService<Connectors.McpSessionRetention>();
        }
        else
        {
            builder.Services.AddSingleton<Llm.Spend.ISpendStore, Llm.Spend.InMemorySpendStore>();
            builder.Services.AddSingleton<Llm.IResponseStore, Llm.InMemoryResponseStore>();
            builder.Services.AddSingleton<Mcp.IToolPinStore, Mcp.InMemoryToolPinStore>();
            builder.Services.AddSingleton<Mcp.IMcpAuditStore, Mcp.InMemoryMcpAuditStore>();
        }
        builder.Services.AddSingleton<Llm.StoredResponses>();
        builder.Services.AddHostedService<Llm.ResponseRetention>();
        builder.Services.AddSingleton<Llm.EffortRoutingClient>();
        builder.Services.AddHostedService<Llm.RoutingKeyCheck>();
        // No retries on the way to routing: a routing service that is down must cost an LLM call nothing but the default model.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked experimental; it is the documented way to opt one client out
        builder.Services.AddHttpClient(Llm.EffortRoutingClient.ClientName, client => client.BaseAddress = new Uri("https+http://routing"))
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IncidentSignals>());
        builder.Services.AddLearningServiceClient();
        // The catalogue becomes YARP's routes; building it here validates it at start (a bad setting stops the gateway).
        var catalog = new ConnectorCatalog(builder.Configuration, Microsoft.Extensions.Options.Options.Create(
            builder.Configuration.GetSection(GovernanceOptions.Section).Get<GovernanceOptions>() ?? new GovernanceOptions()));
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton(sp => new ConnectorRegistry(catalog, sp.GetRequiredService<TimeProvider>(), change =>
        {
            sp.GetRequiredService<GatewayMetrics>().Transition(change);
            if (change is { OldState: "closed", NewState: "open" })
            {
                sp.GetRequiredService<IncidentSignals>().CircuitOpened(change);
            }
        }));
        var (routes, clusters) = ConnectorRoutes.Build(catalog);
        builder.Services.AddReverseProxy().LoadFromMemory(routes, clusters)
            .AddTransforms(transforms =>
            {
                var key = catalog.Connectors.GetValueOrDefault(transforms.Route.RouteId)?.ApiKey;
                var routeId = transforms.Route.RouteId;
                var sessions = transforms.Services.GetRequiredService<Mcp.McpSessionAffinity>();
                transforms.AddRequestTransform(context =>
                {
                    HeaderPolicy.Apply(context.HttpContext.Request, context.ProxyRequest, key);
                    if (context.HttpContext.Features.Get<IHttpResponseBodyFeature>() is AttemptResponseBody { HoldAll: true })
                    {
                        context.ProxyRequest.Headers.AcceptEncoding.Clear(); // a tools/list answer governance can read and filter
                    }
                    return ValueTask.CompletedTask;
                });
                transforms.AddResponseTransform(context =>
                {
                    // The upstream's headers are in: the boundary decides what to do with the body (stream, hold or drop).
                    if (context.ProxyResponse is { } response && context.HttpContext.Features.Get<IHttpResponseBodyFeature>() is AttemptResponseBody body)
                    {
                        body.OnHeaders(response);
                    }
                    sessions.Issue(context.HttpContext, routeId); // the server's Mcp-Session-Id becomes the gateway's
                    return ValueTask.CompletedTask;
                });
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

    /// <summary>
    /// A directory for the Data Protection key ring, which every replica must then share (a volume they all mount).
    /// An override: without it the key ring lives in the gateway's database when there is one.
    /// </summary>
    public const string DataProtectionKeysKey = "Gateway:DataProtectionKeys";

    /// <summary>
    /// Data Protection with a key ring every replica can read, so the gateway's MCP session ids open on any replica:
    /// the gateway's database (the replicas share it already), or a directory when <see cref="DataProtectionKeysKey"/>
    /// names one. The application name is fixed: the default one derives from the content root, which differs between
    /// hosts, images and test servers, and would give each its own keys. With neither, each replica keeps its own keys
    /// (a single replica loses nothing; several answer each other's sessions 404).
    /// </summary>
    /// <remarks>
    /// Data Protection caches the key ring, so sealing and opening session ids does not read the database: it is read
    /// when the ring is first loaded (at start, under the migrations lock, see
    /// <see cref="Llm.Spend.GatewayDatabase.MigrateGatewayDatabaseAsync"/>), on its periodic refresh (about a day, in
    /// the background, the stale ring serving meanwhile), and, in the first two minutes after start only, when an id
    /// names a key the ring lacks (Data Protection's own catch-up for replicas starting together). Keys are stored as
    /// Data Protection writes them: unencrypted, as without an XML encryptor (e.g. <c>ProtectKeysWithCertificate</c>).
    /// </remarks>
    private static void AddSharedKeyRing(IHostApplicationBuilder builder)
    {
        var protection = builder.Services.AddDataProtection().SetApplicationName("Agent33.Gateway");
        if (builder.Configuration[DataProtectionKeysKey] is { Length: > 0 } path)
        {
            protection.PersistKeysToFileSystem(new DirectoryInfo(path)); // the explicit override wins
        }
        else if (Llm.Spend.GatewayDatabase.IsConfigured(builder.Configuration))
        {
            protection.PersistKeysToDbContext<Llm.Spend.GatewayDbContext>();
        }
    }

    public static WebApplication MapConnectorProxy(this WebApplication app)
    {
        var boundary = app.Services.GetRequiredService<BoundaryPipeline>();
        var registry = app.Services.GetRequiredService<ConnectorRegistry>();
        app.MapReverseProxy(proxy =>
        {
            proxy.Use((context, next) => boundary.InvokeAsync(context, registry.Find(context.GetReverseProxyFeature().Route.Config.RouteId)!, next));
            // A connector with several destinations: YARP's own balancing picks the one a call goes to.
            proxy.UseLoadBalancing();
        });
        return app;
    }
}
