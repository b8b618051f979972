using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Agent33.AppHost.Postgres;

/// <summary>
/// The learning database: a Postgres container where a container runtime answers, otherwise the
/// machine's own PostgreSQL binaries run as an executable resource, so the AppHost works on a
/// machine without Docker. <c>Postgres:Mode</c> (<c>auto</c>, <c>container</c>, <c>local</c>) forces
/// a choice; <c>Postgres:DataDirectory</c> says where a local cluster keeps its data.
/// </summary>
public static class LearningDatabase
{
    /// <summary>The gateway's database on the shared server (its resource is <see cref="ResourceNames.GatewayDatabase"/>).</summary>
    private const string GatewayDatabaseName = "gateway";

    /// <returns>The learning database's connection string, the gateway's, and the resource to wait for: healthy once the learning database exists.</returns>
    public static (IResourceBuilder<IResourceWithConnectionString> Database, IResourceBuilder<IResourceWithConnectionString> GatewayDatabase,
        IResourceBuilder<IResource> Ready) AddLearningDatabase(this IDistributedApplicationBuilder builder)
    {
        var mode = builder.Configuration["Postgres:Mode"] ?? "auto";
        var useContainer = mode switch
        {
            "container" => true,
            "local" => false,
            "auto" => builder.ExecutionContext.IsPublishMode || ContainerRuntimeAnswers(),
            _ => throw new InvalidOperationException($"Postgres:Mode must be auto, container or local, not '{mode}'."),
        };

        if (useContainer)
        {
            // Aspire creates the database once the server is up; the database resource is healthy when it exists.
            var server = builder.AddPostgres(ResourceNames.Postgres).WithDataVolume();
            var database = server.AddDatabase(ResourceNames.LearningDatabase);
            return (database, server.AddDatabase(ResourceNames.GatewayDatabase, GatewayDatabaseName), database);
        }

        return builder.AddLocalPostgres();
    }

    private static (IResourceBuilder<IResourceWithConnectionString>, IResourceBuilder<IResourceWithConnectionString>, IResourceBuilder<IResource>) AddLocalPostgres(
        this IDistributedApplicationBuilder builder)
    {
        var binDir = LocalPostgresBinaries.Find() ?? throw new InvalidOperationException(
            "The learning database needs Postgres, but no container runtime answered (docker/podman) and no PostgreSQL " +
            "binaries (initdb, postgres) were found on PATH or under /usr/lib/postgresql/*/bin. Install one of them, e.g. " +
            "'sudo apt-get install -y postgresql' on Debian/Ubuntu, or start Docker.");

        var dataDir = builder.Configuration["Postgres:DataDirectory"] is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : LocalPostgresBinaries.DefaultDataDirectory();
        var port = FreeTcpPort();
        var password = builder.AddParameter("postgres-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true, persist: true);
        var script = Path.Combine(AppContext.BaseDirectory, "Postgres", "run-local-postgres.sh");

        var server = builder.AddExecutable(ResourceNames.Postgres, "bash", AppContext.BaseDirectory, script, binDir, dataDir, port.ToString())
            .WithEnvironment("AGENT33_PG_PASSWORD", password)
            .WithEnvironment("AGENT33_PG_DATABASE", $"{ResourceNames.LearningDatabase} {GatewayDatabaseName}") // the learning service's and the gateway's
            .WithEndpoint(name: "tcp", scheme: "tcp", port: port, targetPort: port, isProxied: false);
        var endpoint = server.GetEndpoint("tcp");

        var serverConnection = ReferenceExpression.Create(
            $"Host=127.0.0.1;Port={endpoint.Property(EndpointProperty.Port)};Username=postgres;Password={password}");
        var databaseConnection = ReferenceExpression.Create($"{serverConnection};Database={ResourceNames.LearningDatabase}");
        var database = builder.AddConnectionString(ResourceNames.LearningDatabase, databaseConnection);
        // The gateway's own database (LLM spend) on the same server; the script creates it beside the learning database.
        var gatewayDatabase = builder.AddConnectionString(ResourceNames.GatewayDatabase,
            ReferenceExpression.Create($"{serverConnection};Database={GatewayDatabaseName}"));

        // Healthy once both databases exist (the script creates them after the server accepts connections), so the
        // services wait for databases they can use. The check asks the maintenance database: connecting to a
        // database that is not created yet would put "does not exist" in the server's log on every first run.
        var healthCheck = $"{ResourceNames.Postgres}-ready";
        string? maintenanceConnection = null;
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(server.Resource, async (_, ct) =>
            maintenanceConnection = $"{await serverConnection.GetValueAsync(ct)};Database=postgres;Pooling=false");
        builder.Services.AddHealthChecks().AddAsyncCheck(healthCheck, async ct =>
        {
            if (maintenanceConnection is null)
            {
                return HealthCheckResult.Unhealthy("postgres has not started yet");
            }
            await using var connection = new NpgsqlConnection(maintenanceConnection);
            await connection.OpenAsync(ct);
            await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname = ANY(@names)", connection);
            count.Parameters.AddWithValue("names", (string[])[ResourceNames.LearningDatabase, GatewayDatabaseName]);
            return (long)(await count.ExecuteScalarAsync(ct))! == 2
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("the databases are being created");
        });
        server.WithHealthCheck(healthCheck);

        return (database, gatewayDatabase, server.WithParentRelationship(database.Resource));
    }

    /// <summary>True when a container engine answers within a few seconds (a client without a daemon does not); asked once per run.</summary>
    public static bool ContainerRuntimeAnswers() => ContainerRuntime.Value;

    private static readonly Lazy<bool> ContainerRuntime = new(AskContainerRuntime);

    private static bool AskContainerRuntime()
    {
        foreach (var runtime in new[] { "docker", "podman" })
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(runtime, "info")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                });
                if (process is null)
                {
                    continue;
                }
                if (process.WaitForExit(TimeSpan.FromSeconds(5)) && process.ExitCode == 0)
                {
                    return true;
                }
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed.
            }
        }
        return false;
    }

    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
