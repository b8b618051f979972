using Agent33.AppHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Agent33.IntegrationTests;

/// <summary>
/// The whole application, started once for the integration tests through Aspire.Hosting.Testing:
/// Postgres (local binaries when no container runtime answers) in a throwaway data folder, the three
/// services, and known API keys.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    public const string AdminKey = "integration-admin-key";
    public const string ServiceKey = "integration-service-key";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"agent33-apphost-{Guid.NewGuid():N}");

    public DistributedApplication App { get; private set; } = null!;

    public TimeSpan TimeToHealthy { get; private set; }

    public async Task InitializeAsync()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Agent33_AppHost>(
        [
            $"Postgres:DataDirectory={_dataDir}",
            $"Parameters:admin-api-key={AdminKey}",
            $"Parameters:service-api-key={ServiceKey}",
            $"Parameters:postgres-password={Guid.NewGuid():N}",
        ]);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));

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
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}
