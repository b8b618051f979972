using Agent33.AppHost.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Agent33.AppHost.Redis;

/// <summary>
/// The store of the services' per-key write buckets (<c>ConnectionStrings:ratelimit</c>, see
/// Agent33.ServiceDefaults' WriteRateLimiting), so a key's limit holds for all replicas of a service together.
/// A Redis container where a container runtime answers (and always in a published manifest), otherwise the
/// machine's own <c>redis-server</c> as an executable resource on a free loopback port, nothing persisted.
/// <c>Redis:Mode</c> (<c>auto</c>, <c>container</c>, <c>local</c>) forces a choice, as <c>Postgres:Mode</c> does.
/// </summary>
/// <remarks>
/// The services do not wait for it: while it is not up, each replica limits writes on its own (fail open).
/// </remarks>
public static class RateLimitStore
{
    /// <returns>The store's connection string resource, or null on a local run without redis-server (per-replica limits, with a warning).</returns>
    public static IResourceBuilder<IResourceWithConnectionString>? AddRateLimitStore(this IDistributedApplicationBuilder builder)
    {
        var mode = builder.Configuration["Redis:Mode"] ?? "auto";
        var useContainer = mode switch
        {
            "container" => true,
            "local" => false,
            "auto" => builder.ExecutionContext.IsPublishMode || LearningDatabase.ContainerRuntimeAnswers(),
            _ => throw new InvalidOperationException($"Redis:Mode must be auto, container or local, not '{mode}'."),
        };
        if (useContainer)
        {
            return builder.AddRedis(ResourceNames.RateLimitStore);
        }

        if (FindRedisServer() is not { } redisServer)
        {
            if (mode == "local")
            {
                throw new InvalidOperationException(MissingMessage);
            }
            using var loggerFactory = LoggerFactory.Create(logging => logging.AddConsole());
            loggerFactory.CreateLogger(typeof(RateLimitStore)).LogWarning(
                "{Message} Each service replica limits writes on its own until it is installed.", MissingMessage);
            return null;
        }

        // Counters only, rebuilt as clients write: no persistence, a folder of its own that the next run reuses.
        var dataDir = Path.Combine(Path.GetTempPath(), "agent33-redis");
        Directory.CreateDirectory(dataDir);
        var port = LearningDatabase.FreeTcpPort();
        var server = builder.AddExecutable(ResourceNames.RateLimitStore + "-server", redisServer, dataDir,
                "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", dataDir)
            .WithEndpoint(name: "tcp", scheme: "tcp", port: port, targetPort: port, isProxied: false);
        var endpoint = server.GetEndpoint("tcp");
        var connection = builder.AddConnectionString(ResourceNames.RateLimitStore,
            ReferenceExpression.Create($"127.0.0.1:{endpoint.Property(EndpointProperty.Port)}"));
        server.WithParentRelationship(connection.Resource);
        return connection;
    }

    public const string MissingMessage =
        "The write rate limits are shared through Redis, but no container runtime answered (docker/podman) and no " +
        "redis-server was found on PATH. Install it, e.g. 'sudo apt-get install -y redis-server' on Debian/Ubuntu, or start Docker.";

    /// <summary>The machine's <c>redis-server</c>: PATH first, then where Debian installs it.</summary>
    public static string? FindRedisServer() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);

    /// <summary>Every service gets <c>ConnectionStrings__ratelimit</c>; none waits for it (the limiter fails open).</summary>
    public static IResourceBuilder<ProjectResource> WithRateLimitStore(this IResourceBuilder<ProjectResource> project,
        IResourceBuilder<IResourceWithConnectionString>? store) =>
        store is null ? project : project.WithReference(store);
}
