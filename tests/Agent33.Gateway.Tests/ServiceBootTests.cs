using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Agent33.Gateway.Tests;

public sealed class ServiceBootTests
{
    [Fact]
    public async Task Boots_with_health_metrics_and_auth()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseTestKeys());
        await ServiceBasics.AssertBootsAsync(factory.CreateClient(), "/v1/connectors");
    }
}
