using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;

namespace Agent33.Learning.Tests;

/// <summary>
/// Behaviour the reference engine's clients rely on, found by replaying their requests against this service
/// (each was a refusal or a different answer here).
/// </summary>
public sealed class ReferenceParityTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    /// <summary>The reference's request model defaults <c>tenant_id</c> to "default"; its clients send it from any key.</summary>
    [Fact]
    public async Task Tenant_default_from_an_ordinary_key_means_the_keys_own_tenant_and_any_other_stays_denied()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var writer = factory.CreateClient(TestKeys.Writer); // tenant-a
        var admin = factory.CreateClient(TestKeys.Admin);

        var posted = await writer.PostAsJsonAsync($"{Base}/signals", new { summary = "Posted with the reference's default tenant", tenant_id = "default" });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var signal = await posted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("tenant-a", signal.GetProperty("tenant_id").GetString());

        var listed = await writer.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id=default");
        Assert.Contains(listed.EnumerateArray(), s => s.GetProperty("signal_id").GetString() == signal.GetProperty("signal_id").GetString());
        Assert.All(listed.EnumerateArray(), s => Assert.Equal("tenant-a", s.GetProperty("tenant_id").GetString()));
        var summary = await writer.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id=default");
        Assert.Equal("tenant-a", summary.GetProperty("summary").GetProperty("tenant_id").GetString());

        foreach (var response in new[]
                 {
                     await writer.PostAsJsonAsync($"{Base}/signals", new { summary = "Another tenant is still refused", tenant_id = "tenant-b" }),
                     await writer.GetAsync($"{Base}/signals?tenant_id=tenant-b"),
                 })
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("cross_tenant_denied", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        // An admin key names the tenant called "default".
        var adminPosted = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "An admin writes to the default tenant", tenant_id = "default" });
        Assert.Equal("default", (await adminPosted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());
    }
}
