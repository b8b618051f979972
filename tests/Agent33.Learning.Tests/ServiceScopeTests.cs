using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Contracts.Learning;
using Agent33.Testing;

namespace Agent33.Learning.Tests;

/// <summary>
/// The contract's <c>service</c> scope on the learning service: a service (the gateway, the routing service)
/// posts a signal for the tenant it acts for, and its key is never an admin's.
/// </summary>
public sealed class ServiceScopeTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    [Fact]
    public async Task A_service_key_posts_and_reads_signals_for_its_callers_tenant_but_is_no_admin()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var service = factory.CreateClient(TestKeys.Service); // tenant "default", write + service
        var tenant = $"t{Guid.NewGuid():N}"[..20];

        // The gateway's incident signal, for its caller's tenant.
        var posted = await service.PostAsJsonAsync(SignalRequest.Path,
            new SignalRequest("incident", null, "high", "Connector tool:web_fetch circuit opened", null, "connector-gateway", null, tenant));
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        Assert.Equal(tenant, (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());

        var listed = await service.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}");
        Assert.Equal(tenant, Assert.Single(listed.EnumerateArray()).GetProperty("tenant_id").GetString());

        // Without a tenant it writes for its own, as before.
        var own = await service.PostAsJsonAsync(SignalRequest.Path, new SignalRequest(null, null, "high", "Routing alert started firing", null, null, null, null));
        Assert.Equal("default", (await own.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());

        // No admin operation: every tenant at once, backups, quarantine.
        var everyTenant = await service.GetAsync($"{Base}/signals?tenant_id=*");
        Assert.Equal(HttpStatusCode.Forbidden, everyTenant.StatusCode);
        Assert.Equal("cross_tenant_denied", await everyTenant.ProblemCodeAsync());
        foreach (var (method, path) in new[] { (HttpMethod.Post, $"{Base}/backups"), (HttpMethod.Get, $"{Base}/backups"), (HttpMethod.Get, $"{Base}/quarantine") })
        {
            var refused = await service.SendAsync(new HttpRequestMessage(method, path));
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("forbidden", await refused.ProblemCodeAsync());
        }
    }
}
