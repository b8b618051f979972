using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Agent33.ServiceDefaults.Tests;

/// <summary>The drain a stopping service allows its requests in flight: the figure the pods' grace period is built on.</summary>
public sealed class ShutdownTimeoutTests
{
    private static TimeSpan ShutdownTimeout(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        using var app = builder.Build();
        return app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;
    }

    [Fact]
    public void Services_drain_for_25_seconds_unless_configured()
    {
        Assert.Equal(TimeSpan.FromSeconds(25), ServiceDefaultsExtensions.DefaultShutdownTimeout);
        Assert.Equal(ServiceDefaultsExtensions.DefaultShutdownTimeout, ShutdownTimeout([]));
        Assert.Equal(TimeSpan.FromSeconds(40), ShutdownTimeout(new() { [ServiceDefaultsExtensions.ShutdownTimeoutKey] = "40" }));
    }
}
