using System.Text.Json;
using System.Text.Json.Serialization;
using Agent33.Contracts;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Cors;
using Agent33.ServiceDefaults.OpenApi;
using Agent33.ServiceDefaults.RateLimiting;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every Agent33 service shares: telemetry, health, service discovery, resilient outgoing
/// HTTP, snake_case JSON, problem+json errors with a stable code, and API-key authentication.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthPath = ServicePaths.Health;
    public const string AlivePath = ServicePaths.Alive;
    public const string MetricsPath = ServicePaths.Metrics;

    /// <summary>Largest request body a service reads unless a route allows more (1 MiB by default).</summary>
    public const string MaxRequestBodyBytesKey = "Limits:MaxRequestBodyBytes";
    public const long DefaultMaxRequestBodyBytes = 1024 * 1024;

    /// <summary>
    /// How long a stopping service drains: after SIGTERM it takes no new connections and gives requests in flight
    /// (and hosted services' StopAsync) this long to finish. Kubernetes' terminationGracePeriodSeconds is set above
    /// the preStop pause plus this (deploy/Agent33.Deploy); <c>Host:ShutdownTimeoutSeconds</c> overrides it.
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(25);
    public const string ShutdownTimeoutKey = "Host:ShutdownTimeoutSeconds";

    /// <summary>Every Agent33 meter starts with this prefix, so one wildcard exports them all.</summary>
    public const string MeterPrefix = "Agent33.";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        // Set explicitly rather than left at the runtime's default, because the pods' grace period is derived from it.
        var shutdownSeconds = builder.Configuration.GetValue<double?>(ShutdownTimeoutKey);
        builder.Services.Configure<HostOptions>(o =>
            o.ShutdownTimeout = shutdownSeconds is > 0 ? TimeSpan.FromSeconds(shutdownSeconds.Value) : DefaultShutdownTimeout);

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        builder.Services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        builder.Services.AddApiProblems();
        builder.Services.AddApiDocumentation();
        builder.Services.AddBrowserCors();
        builder.AddApiKeyAuthentication();
        builder.Services.AddWriteRateLimiting(builder.Configuration, builder.Environment.ApplicationName);

        // Bodies are small JSON documents; a route that takes more (a restore upload, a proxied call)
        // raises its own limit. Over the limit: 413 payload_too_large, nothing read.
        var maxBody = builder.Configuration.GetValue<long?>(MaxRequestBodyBytesKey) ?? DefaultMaxRequestBodyBytes;
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = maxBody);
        return builder;
    }

    /// <summary>The wire format of the contract: snake_case names, lower-case enums, no trailing nulls dropped.</summary>
    public static JsonSerializerOptions ConfigureJson(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return options;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var detailed = builder.Configuration.GetValue<bool>(DetailedMetricsKey);
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddView(instrument => !detailed && PerRequestDetail.Contains(instrument.Name) ? MetricStreamConfiguration.Drop : PublicMetricStream(instrument))
                .AddMeter(MeterPrefix + "*")
                .AddPrometheusExporter());

        // Traces and OTLP only when an endpoint is configured (the AppHost sets it for the dashboard): spans
        // that nobody exports would cost every request (the gateway's hot path most) for nothing.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry()
                .WithTracing(tracing => tracing
                    .AddSource(builder.Environment.ApplicationName)
                    .AddSource(MeterPrefix + "*")
                    .AddAspNetCoreInstrumentation(t => t.Filter = context => !IsOperationalPath(context.Request.Path))
                    .AddHttpClientInstrumentation())
                .UseOtlpExporter();
        }
        else if (builder.Configuration[$"Logging:LogLevel:{HostingDiagnosticsCategory}"] is null)
        {
            // With no tracing, ASP.NET Core still starts an Activity and a log scope for every request, only because its
            // request log category is enabled (at any level): a cost per request (the gateway's most) for log lines the
            // Warning level drops anyway. Off; setting the category's level turns it back on.
            builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);
        }

        return builder;
    }

    /// <summary>
    /// Gauges (up-down counters) named <c>*.count</c> — three of the .NET runtime's, and Npgsql's connection
    /// gauge where a service uses Postgres — become <c>*_count</c> in Prometheus text, a suffix Prometheus
    /// reserves for histograms and summaries (<c>promtool check metrics</c> rejects them). Each gets a name
    /// without it; value, labels, unit and description stay as their library reports them.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> CountGaugeNames = new Dictionary<string, string>
    {
        ["dotnet.assembly.count"] = "dotnet.assemblies.loaded",
        ["dotnet.process.cpu.count"] = "dotnet.process.cpus",
        ["dotnet.timer.count"] = "dotnet.timers.active",
        ["db.client.connection.count"] = "db.client.connections.usage", // the name semantic conventions gave it before 1.26
    };

    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary><c>Metrics:Detailed</c>: also export the framework's per-request detail instruments (<see cref="PerRequestDetail"/>).</summary>
    public const string DetailedMetricsKey = "Metrics:Detailed";

    /// <summary>
    /// Instruments the framework records on every request that say little an operator acts on, each measurement costing
    /// the hot path (the gateway's most): how long authentication and a rate-limit lease took, route matching, every
    /// pooled buffer rented, and outgoing requests one by one (the gateway's <c>connector_*</c> series count and time
    /// them per connector). Not exported unless <c>Metrics:Detailed=true</c>; a dropped instrument is never recorded.
    /// Every service keeps <c>http_server_request_duration_seconds</c>, rate-limit rejections
    /// (<c>aspnetcore_rate_limiting_requests_total</c>), outgoing connection counts and the runtime's metrics.
    /// </summary>
    public static readonly IReadOnlySet<string> PerRequestDetail = new HashSet<string>(StringComparer.Ordinal)
    {
        "aspnetcore.authentication.authenticate.duration",
        "aspnetcore.authorization.attempts",
        "aspnetcore.routing.match_attempts",
        "aspnetcore.rate_limiting.request_lease.duration",
        "aspnetcore.rate_limiting.active_request_leases",
        "aspnetcore.memory_pool.rented",
        "http.client.request.duration",
        "http.client.active_requests",
        "http.client.request.time_in_queue",
    };

    // /metrics is open to any scraper. Npgsql's instruments name the connection pool by its connection string (host,
    // port, user, database), outgoing HTTP names the hosts called (which, through caller-target connectors, are the
    // hosts other tenants fetch), and DNS lookups name the host looked up: those streams keep only these labels.
    private static readonly Dictionary<string, string[]> PublicLabels = new()
    {
        ["Npgsql"] = ["db.client.connection.state", "db.system.name", "db.system", "error.type"],
        ["System.Net.NameResolution"] = ["error.type"],
        ["System.Net.Http"] = ["http.request.method", "http.response.status_code", "error.type", "network.protocol.version", "url.scheme", "http.connection.state"],
    };

    /// <summary>One view per instrument (OpenTelemetry makes a stream per matching view): the lint rename and the label filter together.</summary>
    private static MetricStreamConfiguration? PublicMetricStream(System.Diagnostics.Metrics.Instrument instrument)
    {
        var name = CountGaugeNames.GetValueOrDefault(instrument.Name);
        var labels = PublicLabels.GetValueOrDefault(instrument.Meter.Name);
        return name is null && labels is null ? null : new MetricStreamConfiguration { Name = name, TagKeys = labels };
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// Error handling, CORS, authentication and the operational endpoints. <c>/health</c> (every check,
    /// dependencies included), <c>/alive</c> (liveness only) and <c>/metrics</c> (Prometheus text)
    /// are open so probes and scrapers need no key, and so is a browser's CORS preflight; everything
    /// else requires one.
    /// </summary>
    /// <param name="app">The service.</param>
    /// <param name="ahead">
    /// A service's own path for its hottest requests: inside the error handling, ahead of routing and the rest of the
    /// shared middleware. It serves what it can and passes every other request on unchanged.
    /// </param>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, Action<IApplicationBuilder>? ahead = null)
    {
        app.UseExceptionHandler();
        if (ahead is not null)
        {
            ahead(app);
            app.UseRouting(); // named here, or the host would put routing first, ahead of this path
        }
        app.UseAdmission();

        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync }).AllowAnonymous();
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains("live"),
            ResponseWriter = HealthResponse.WriteAsync,
        }).AllowAnonymous();
        app.MapPrometheusScrapingEndpoint(MetricsPath).AllowAnonymous();
        app.MapApiDocumentation();
        return app;
    }

    /// <summary>
    /// Who may call, in the order every request meets it: the answer pages of empty errors, CORS (before
    /// authentication: a preflight carries no key), the API key, the endpoint's authorization policy, the write limit
    /// (after authentication: writes are limited per key). Each reads what the request's endpoint declares. The one
    /// admission of a service: a path that serves requests ahead of routing sets the endpoint and runs this same list.
    /// </summary>
    public static IApplicationBuilder UseAdmission(this IApplicationBuilder app)
    {
        app.UseStatusCodePages();
        app.UseBrowserCors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        return app;
    }

    private static bool IsOperationalPath(PathString path) =>
        path.StartsWithSegments(HealthPath) || path.StartsWithSegments(AlivePath) || path.StartsWithSegments(MetricsPath);
}
