using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Agent33.Gateway.Tests;

/// <summary>The gateway with a connector catalogue, a fake clock for its breakers, and no retry delays.</summary>
internal sealed class GatewayFactory(params (string Key, string Value)[] settings) : WebApplicationFactory<Program>
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));

    /// <summary>Replaces services before the gateway starts (set it before the first client is made).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; set; }

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        builder.UseTestKeys();
        builder.UseSetting("services:learning-service:http:0", "http://127.0.0.1:9");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            ConfigureServices?.Invoke(services);
        });
    }

    /// <summary>Settings for connector <paramref name="index"/>.</summary>
    public static (string, string)[] Connector(int index, string id, string destination, string kind = "http", int retries = 0, params (string Key, string Value)[] more) =>
    [
        ($"Connectors:{index}:Id", id), ($"Connectors:{index}:Kind", kind), ($"Connectors:{index}:Destination", destination),
        ($"Connectors:{index}:RetryAttempts", retries.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ($"Connectors:{index}:RetryBaseDelayMilliseconds", "0"),
        .. more.Select(m => ($"Connectors:{index}:{m.Key}", m.Value)),
    ];
}
