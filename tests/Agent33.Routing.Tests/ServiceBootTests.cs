using System.Net.Http.Json;
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

/// <summary>The routing service's Prometheus text passes Prometheus' own lint, its decision histograms included.</summary>
public sealed class MetricsLintTests
{
    [PromtoolFact]
    public async Task Metrics_pass_promtool_check_metrics()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseTestKeys().UseSetting("Routing:CostPer1kTokens", "0.002"));
        (await factory.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions",
            new { default_model = "m", max_tokens = 9000, effort = "high", inputs = new { prompt = "hi" } })).EnsureSuccessStatusCode();

        var metrics = await factory.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("effort_routing_estimated_cost_usd_bucket", metrics);
        await Promtool.AssertLintCleanAsync(metrics);
    }

    /// <summary>
    /// The generated spike alerts count decisions above a threshold as all decisions minus the bucket
    /// <c>le="&lt;threshold&gt;"</c>; that bucket must exist, spelled as the rules spell it (deploy/Agent33.Deploy/AlertRules.cs).
    /// </summary>
    [Theory]
    [InlineData(null, null, "5", "8000")]
    [InlineData("7.5", "12000", "7.5", "12000")]
    public async Task The_decision_histograms_have_a_bucket_at_each_alert_threshold(string? cost, string? tokens, string costLe, string tokensLe)
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseTestKeys().UseSetting("Routing:CostPer1kTokens", "0.002");
            if (cost is not null)
            {
                b.UseSetting("Routing:Alerts:HighCostUsdThreshold", cost).UseSetting("Routing:Alerts:HighTokenBudgetThreshold", tokens);
            }
        });
        (await factory.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions",
            new { default_model = "m", max_tokens = 1000, inputs = new { prompt = "hi" } })).EnsureSuccessStatusCode();

        // Counts are "at least one": instruments of the same meter name are visible to every host in this test process,
        // so a decision made by a test class running beside this one may land in the same bucket.
        var metrics = await factory.CreateClient().GetStringAsync("/metrics");
        Assert.Matches($"\\neffort_routing_estimated_cost_usd_bucket\\{{[^}}]*le=\"{costLe}\"}} [1-9]", metrics);
        Assert.Matches($"\\neffort_routing_estimated_token_budget_bucket\\{{[^}}]*le=\"{tokensLe}\"}} [1-9]", metrics);
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
