using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Agent33.Routing.Tests;

public sealed class ServiceBootTests
{
    [Fact]
    public async Task Boots_with_health_metrics_and_auth()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseTestKeys());
        await ServiceBasics.AssertBootsAsync(factory.CreateClient(), "/v1/dashboard/metrics");
    }
}

public sealed class OpenApiTests
{
    [Fact]
    public async Task The_openapi_document_lists_every_contract_route()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseTestKeys());
        await OpenApiContract.AssertRoutesAsync(factory.CreateClient(),
            ("POST", "/v1/routing/decisions"), ("POST", "/v1/routing/usage"), ("POST", "/v1/routing/classify"), ("GET", "/v1/dashboard/metrics"), ("GET", "/v1/dashboard/alerts"));
    }
}
