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

/// <summary>The gateway's Prometheus text passes Prometheus' own lint, its connector series included.</summary>
public sealed class MetricsLintTests
{
    [PromtoolFact]
    public async Task Metrics_pass_promtool_check_metrics()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", upstream.Address));
        (await gateway.CreateClient(TestKeys.Writer).GetAsync("/connectors/llm:test/ok")).EnsureSuccessStatusCode();

        var metrics = await GatewayCalls.ScrapeAsync(gateway);
        Assert.Contains("connector_call_duration_seconds_bucket", metrics);
        await Promtool.AssertLintCleanAsync(metrics);
    }
}

public sealed class OpenApiTests
{
    [Fact]
    public async Task The_openapi_document_lists_every_contract_route()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseTestKeys());
        await OpenApiContract.AssertRoutesAsync(factory.CreateClient(),
            ("GET", "/v1/connectors"), ("GET", "/v1/connectors/health"), ("GET", "/v1/connectors/{connectorId}"),
            ("GET", "/v1/connectors/{connectorId}/events"), ("POST", "/v1/connectors/{connectorId}/circuit/reset"),
            ("GET", "/v1/mcp/tools"), ("POST", "/v1/mcp/tools/{connector}/{tool}/approve"));
    }
}
