using Agent33.AppHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Agent33.IntegrationTests;

/// <summary>
/// The whole application, started once for the integration tests through Aspire.Hosting.Testing:
/// Postgres (local binaries when no container runtime answers) in a throwaway data folder, the three
/// services, known API keys, and a loopback upstream behind the gateway's <c>tool:echo</c> connector.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    private readonly int _replicas;

    public AppHostFixture() : this(replicas: 1)
    {
    }

    /// <summary>With <paramref name="replicas"/> copies of each service (xunit needs the one public constructor).</summary>
    internal AppHostFixture(int replicas) => _replicas = replicas;

    public const string AdminKey = "integration-admin-key";
    public const string ServiceKey = "integration-service-key";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"agent33-apphost-{Guid.NewGuid():N}");

    public DistributedApplication App { get; private set; } = null!;

    public const string EchoConnector = "tool:echo";

    private WebApplication? _echo;

    public TimeSpan TimeToHealthy { get; private set; }

    /// <summary>What the AppHost itself logged at Warning and above (<c>level category: message</c>).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> AppHostLog { get; } = new();

    /// <summary>A resource's console output from its start (what the dashboard's Console page shows), without colour codes.</summary>
    public async Task<List<string>> ConsoleLogsAsync(string resource)
    {
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        var logs = App.Services.GetRequiredService<ResourceLoggerService>();
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var batch in logs.GetAllAsync(model.Resources.Single(r => r.Name == resource)).WithCancellation(timeout.Token))
        {
            lines.AddRange(batch.Select(l => System.Text.RegularExpressions.Regex.Replace(l.Content, @"\x1b\[[0-9;]*m", "")));
        }
        return lines;
    }

    public async Task InitializeAsync()
    {
        _echo = await StartEchoAsync();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Agent33_AppHost>(
        [
            $"Postgres:DataDirectory={_dataDir}",
            $"Parameters:admin-api-key={AdminKey}",
            $"Parameters:service-api-key={ServiceKey}",
            $"Parameters:postgres-password={Guid.NewGuid():N}",
            $"Replicas:Default={_replicas}",
        ]);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddProvider(new CapturingLoggerProvider(AppHostLog)));
        var echoAddress = _echo.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        builder.CreateResourceBuilder(builder.Resources.OfType<ProjectResource>().Single(r => r.Name == ResourceNames.Gateway))
            .WithEnvironment("Connectors__0__Id", EchoConnector)
            .WithEnvironment("Connectors__0__Kind", "http")
            .WithEnvironment("Connectors__0__Destination", echoAddress);

        using var cts = new CancellationTokenSource(StartTimeout);
        var started = System.Diagnostics.Stopwatch.StartNew();
        App = await builder.BuildAsync(cts.Token);
        await App.StartAsync(cts.Token);
        foreach (var resource in (string[])[ResourceNames.Postgres, ResourceNames.Learning, ResourceNames.Routing, ResourceNames.Gateway])
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
        TimeToHealthy = started.Elapsed;
    }

    /// <summary>
    /// The process id of each running replica of <paramref name="service"/>: the resource snapshot's <c>executable.pid</c>
    /// is the launcher (<c>dotnet run</c>); the service is the process at the end of its line of children.
    /// </summary>
    public async Task<List<int>> ReplicaProcessesAsync(string service)
    {
        var pids = new Dictionary<string, int>();
        using var enough = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await foreach (var update in App.ResourceNotifications.WatchAsync(enough.Token))
            {
                if (update.Resource.Name == service && update.Snapshot.State?.Text == "Running"
                    && update.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } pid)
                {
                    pids[update.ResourceId] = LastDescendant(Convert.ToInt32(pid, System.Globalization.CultureInfo.InvariantCulture));
                }
                if (pids.Count == _replicas)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // fewer running replicas than asked for: the caller sees it
        }
        return [.. pids.Values];
    }

    private static int LastDescendant(int pid)
    {
        while (Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var child) ? child : 0)
                   .FirstOrDefault(child => child > 0 && ParentOf(child) == pid) is var child && child > 0)
        {
            pid = child;
        }
        return pid;
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0; // the process ended while we looked
        }
    }

    public HttpClient CreateClient(string resource, string? key = AdminKey)
    {
        var client = App.CreateHttpClient(resource);
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        }
        return client;
    }

    public async Task DisposeAsync()
    {
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        if (_echo is not null)
        {
            await _echo.DisposeAsync();
        }
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>An upstream on loopback that answers every GET with a small JSON document.</summary>
    private static async Task<WebApplication> StartEchoAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var echo = builder.Build();
        echo.MapGet("/{**path}", (string? path) => Results.Ok(new { path, ok = true }));
        await echo.StartAsync();
        return echo;
    }
}

[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}

/// <summary>Keeps what the AppHost logs, for tests that check a run is quiet.</summary>
internal sealed class CapturingLoggerProvider(System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}");
            }
        }
    }
}
