using System.Net;
using System.Text.Json;
using Xunit;

namespace Agent33.Testing;

/// <summary>What every service must do from its first boot: health, liveness, metrics, the OpenAPI document, and auth.</summary>
public static class ServiceBasics
{
    public static async Task AssertBootsAsync(HttpClient anonymous, string protectedPath)
    {
        var health = await anonymous.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var doc = JsonDocument.Parse(await health.Content.ReadAsStringAsync()))
        {
            Assert.Equal("healthy", doc.RootElement.GetProperty("status").GetString());
        }

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/alive")).StatusCode);

        var metrics = await anonymous.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.StartsWith("text/plain", metrics.Content.Headers.ContentType?.MediaType);
        var exposition = await metrics.Content.ReadAsStringAsync();
        Promtool.AssertNoCountSuffixOutsideHistograms(exposition);
        // The runtime's gauges are renamed, not dropped.
        Assert.All(new[] { "dotnet_assemblies_loaded", "dotnet_process_cpus", "dotnet_timers_active" },
            name => Assert.Contains($"\n{name}{{", exposition));

        using (var openApi = JsonDocument.Parse(await anonymous.GetStringAsync("/openapi/v1.json")))
        {
            Assert.Equal("bearer", openApi.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey").GetProperty("scheme").GetString());
        }

        var denied = await anonymous.GetAsync(protectedPath);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("application/problem+json", denied.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await denied.Content.ReadAsStringAsync());
        Assert.Equal("unauthenticated", problem.RootElement.ProblemCode());
    }
}
