using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;

using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>The boundary pipeline against a real upstream on loopback.</summary>
public sealed class BoundaryTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task Calls_reach_the_destination_path_without_the_callers_key()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var client = gateway.CreateClient(TestKeys.Writer);

        var (status, _, response) = await CallAsync(client, "/connectors/llm:test/ok/models?x=1");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("models", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rest").GetString());
        Assert.Equal("", _upstream.LastAuthorization);
    }

    [Fact]
    public async Task Unknown_connectors_and_missing_keys_are_refused()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var (status, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:nope/ok");
        Assert.Equal((HttpStatusCode.NotFound, "connector_not_found"), (status, code));
        Assert.Equal("llm:nope", response.Headers.GetValues("X-Connector-Id").Single());
        Assert.Equal(HttpStatusCode.Unauthorized, (await CallAsync(gateway.CreateClient(), "/connectors/llm:test/ok")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await CallAsync(gateway.CreateClient(TestKeys.Reader), "/connectors/llm:test/ok")).Status);
        Assert.Equal(0, _upstream.Hits);
    }

    [Fact]
    public async Task The_breaker_opens_half_opens_needs_two_successes_and_backs_off_by_trips()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address, more: [("Circuit:MaxRecoveryTimeoutSeconds", "100")]));
        var client = gateway.CreateClient(TestKeys.Writer);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("http_error", (await CallAsync(client, "/connectors/llm:test/status/500")).Code);
        }
        var open = await CallAsync(client, "/connectors/llm:test/ok");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "circuit_open"), (open.Status, open.Code));
        Assert.Equal(TimeSpan.FromSeconds(30), open.Response.Headers.RetryAfter!.Delta);
        var hits = _upstream.Hits;

        gateway.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
        Assert.Equal("half_open", await StateAsync(gateway)); // one success is not recovery
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
        Assert.Equal("closed", await StateAsync(gateway));

        // Trip again (trip 2): the cooldown doubles. A failure after one half-open success re-trips (trip 3): 4×, capped at 100.
        for (var i = 0; i < 3; i++)
        {
            await CallAsync(client, "/connectors/llm:test/status/503");
        }
        Assert.Equal(TimeSpan.FromSeconds(60), (await CallAsync(client, "/connectors/llm:test/ok")).Response.Headers.RetryAfter!.Delta);
        gateway.Clock.Advance(TimeSpan.FromSeconds(60));
        await CallAsync(client, "/connectors/llm:test/ok");
        await CallAsync(client, "/connectors/llm:test/status/500");
        Assert.Equal("open", await StateAsync(gateway));
        Assert.Equal(TimeSpan.FromSeconds(100), (await CallAsync(client, "/connectors/llm:test/ok")).Response.Headers.RetryAfter!.Delta);

        var events = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/connectors/llm:test/events?limit=20");
        Assert.Equal(
            ["half_open->open", "open->half_open", "closed->open", "half_open->closed", "open->half_open", "closed->open"],
            events.EnumerateArray().Select(e => $"{e.GetProperty("old_state").GetString()}->{e.GetProperty("new_state").GetString()}"));
        Assert.True(_upstream.Hits > hits);
    }

    private static async Task<string> StateAsync(GatewayFactory gateway) =>
        (await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/connectors/llm:test")).GetProperty("circuit").GetProperty("state").GetString()!;

    [Fact]
    public async Task One_breaker_per_connector_is_shared_by_every_path_and_a_4xx_is_not_a_failure()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallAsync(client, "/connectors/llm:test/status/404");
        await CallAsync(client, "/connectors/llm:test/status/404");
        await CallAsync(client, "/connectors/llm:test/status/404");
        Assert.Equal("closed", await StateAsync(gateway));
        Assert.Equal(HttpStatusCode.NotFound, (await CallAsync(client, "/connectors/llm:test/status/404")).Status); // passed through

        await CallAsync(client, "/connectors/llm:test/status/500");
        await CallAsync(client, "/connectors/llm:test/status/502");
        await CallAsync(client, "/connectors/llm:test/crash");
        Assert.Equal("circuit_open", (await CallAsync(client, "/connectors/llm:test/ok/elsewhere")).Code);
    }

    [Fact]
    public async Task Transient_failures_are_retried_for_idempotent_calls_only()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address, retries: 2, more: [("Circuit:FailureThreshold", "10")]));
        var client = gateway.CreateClient(TestKeys.Writer);

        _upstream.FailuresBeforeSuccess = 2;
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/flaky")).Status);
        Assert.Equal(3, _upstream.Hits);

        var before = _upstream.Hits;
        var post = await CallAsync(client, "/connectors/llm:test/status/503", HttpMethod.Post, new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (post.Status, post.Code));
        Assert.Equal(before + 1, _upstream.Hits); // a POST is not repeated

        before = _upstream.Hits;
        await CallAsync(client, "/connectors/llm:test/status/503", HttpMethod.Post, new StringContent("{}", Encoding.UTF8, "application/json"), ("Idempotency-Key", "k1"));
        Assert.Equal(before + 3, _upstream.Hits);

        before = _upstream.Hits;
        await CallAsync(client, "/connectors/llm:test/status/500");
        Assert.Equal(before + 1, _upstream.Hits); // 500 is not transient

        var metrics = await gateway.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("connector_retries_total", metrics);
        Assert.Contains("connector_calls_total{", metrics);
        Assert.Contains("outcome=\"failure\"", metrics);
        Assert.Contains("outcome=\"success\"", metrics);
        Assert.Contains("connector_call_duration_seconds_bucket", metrics);
        Assert.DoesNotContain("_total_total", metrics);
    }

    [Fact]
    public async Task The_total_timeout_aborts_long_calls()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address, retries: 2, more: [("TimeoutSeconds", "0.5")]));
        var started = DateTime.UtcNow;
        var (status, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/slow");
        Assert.Equal((HttpStatusCode.GatewayTimeout, "timeout"), (status, code));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
        Assert.Equal("llm:test", response.Headers.GetValues("X-Connector-Id").Single());
    }

    [Fact]
    public async Task Upstream_errors_never_leak_their_body()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var (status, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/crash");
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (status, code));
        Assert.DoesNotContain("hunter2", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Unreachable_upstreams_are_http_errors()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:down", "http://127.0.0.1:9"));
        Assert.Equal("http_error", (await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:down/ok")).Code);
    }

    [Theory]
    [InlineData("strict-web", "tool:web_fetch", null, true)]
    [InlineData("strict-web", "llm:test", null, false)]
    [InlineData("default", "tool:web_fetch", null, false)]
    [InlineData("default", "tool:web_fetch", "strict-web", true)]
    [InlineData("strict-web", "tool:web_fetch", "default", false)]
    public async Task Policy_packs_block_connectors_and_a_connectors_own_pack_replaces_the_global_one(string globalPack, string connector, string? ownPack, bool blocked)
    {
        (string, string)[] own = ownPack is null ? [] : [("PolicyPack", ownPack)];
        await using var gateway = new GatewayFactory([("Governance:PolicyPack", globalPack), .. GatewayFactory.Connector(0, connector, _upstream.Address, more: own)]);
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{connector}/ok");
        Assert.Equal(blocked ? (HttpStatusCode.Forbidden, "governance_blocked") : (HttpStatusCode.OK, null), (status, code));
        Assert.Equal(blocked ? 0 : 1, _upstream.Hits);
    }

    [Fact]
    public async Task Block_lists_union_with_the_pack()
    {
        await using var gateway = new GatewayFactory([
            ("Governance:BlockedOperations:0", "DELETE"), ("Governance:BlockedOperations:1", "export"), ("Governance:BlockedConnectors:0", "llm:banned"),
            .. GatewayFactory.Connector(0, "llm:test", _upstream.Address), .. GatewayFactory.Connector(1, "llm:banned", _upstream.Address)]);
        var client = gateway.CreateClient(TestKeys.Writer);
        Assert.Equal("governance_blocked", (await CallAsync(client, "/connectors/llm:test/ok", HttpMethod.Delete)).Code);
        Assert.Equal("governance_blocked", (await CallAsync(client, "/connectors/llm:test/ok", headers: ("X-Connector-Operation", "export"))).Code);
        Assert.Equal("governance_blocked", (await CallAsync(client, "/connectors/llm:banned/ok")).Code);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
        Assert.Contains("connector_governance_denials_total", await gateway.CreateClient().GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Monitoring_reports_circuits_and_metrics_and_only_admins_reset()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallAsync(client, "/connectors/llm:test/ok");
        for (var i = 0; i < 3; i++)
        {
            await CallAsync(client, "/connectors/llm:test/status/500");
        }
        var reader = gateway.CreateClient(TestKeys.Reader);
        var connector = Assert.Single((await reader.GetFromJsonAsync<JsonElement>("/v1/connectors")).EnumerateArray());
        Assert.Equal(("llm:test", "http", "degraded"), (connector.GetProperty("connector_id").GetString(), connector.GetProperty("connector_type").GetString(), connector.GetProperty("state").GetString()));
        var metrics = connector.GetProperty("metrics");
        Assert.Equal((4, 1, 3, 0.25), (metrics.GetProperty("total_calls").GetInt32(), metrics.GetProperty("successes").GetInt32(), metrics.GetProperty("failures").GetInt32(), metrics.GetProperty("success_rate").GetDouble()));
        Assert.True(metrics.GetProperty("p95_latency_ms").GetDouble() > 0);
        var circuit = connector.GetProperty("circuit");
        Assert.Equal(("open", 1, 30.0), (circuit.GetProperty("state").GetString(), circuit.GetProperty("total_trips").GetInt32(), circuit.GetProperty("cooldown_remaining_seconds").GetDouble()));
        foreach (var limit in (string[])["0", "101", "99999999999", "ten"])
        {
            var (badStatus, badCode, _) = await CallAsync(reader, $"/v1/connectors/llm:test/events?limit={limit}");
            Assert.Equal(HttpStatusCode.BadRequest, badStatus);
            Assert.Equal(limit is "0" or "101" ? "invalid_limit" : "bad_request", badCode);
        }
        var health = await reader.GetFromJsonAsync<JsonElement>("/v1/connectors/health");
        Assert.Equal((1, 0, 1), (health.GetProperty("total").GetInt32(), health.GetProperty("healthy").GetInt32(), health.GetProperty("open_circuit").GetInt32()));

        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/v1/connectors/llm:test/circuit/reset", null)).StatusCode);
        var reset = await gateway.CreateClient(TestKeys.Admin).PostAsync("/v1/connectors/llm:test/circuit/reset", null);
        Assert.Equal("closed", (await reset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
    }

    [Theory]
    [InlineData("Governance:PolicyPack", "paranoid", "Governance:PolicyPack")]
    [InlineData("Connectors:0:PolicyPack", "paranoid", "Connectors:0:PolicyPack")]
    [InlineData("Connectors:0:Kind", "ftp", "Connectors:0:Kind")]
    [InlineData("Connectors:0:Destination", "not a url", "Connectors:0:Destination")]
    public void Bad_settings_stop_the_gateway_naming_them(string key, string value, string named)
    {
        var settings = GatewayFactory.Connector(0, "llm:test", "http://127.0.0.1:1").Where(s => s.Item1 != key).Append((key, value)).ToArray();
        using var gateway = new GatewayFactory(settings);
        var error = Assert.ThrowsAny<Exception>(() => gateway.CreateClient());
        Assert.Contains(named, error.ToString());
    }
}
