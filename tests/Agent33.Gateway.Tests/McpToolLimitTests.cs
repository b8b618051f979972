using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Agent33.Testing;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>Per-tool rate limits per tenant (<c>Mcp:RateLimits:&lt;connector&gt;:&lt;tool&gt;</c>), in one process and shared by two through a real redis-server.</summary>
public sealed class McpToolLimitTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private GatewayFactory Gateway(int perMinute, params (string Key, string Value)[] more) => new([
        .. GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp"),
        ($"Mcp:RateLimits:mcp:tools:search_docs", perMinute.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        .. more,
    ]);

    private static async Task<HttpResponseMessage> CallAsync(HttpClient client, string tool)
    {
        using var content = new StringContent("""{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":""" + JsonSerializer.Serialize(tool) + ""","arguments":{"query":"x","table":"t"}}}""",
            Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connectors/mcp:tools") { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task A_tenant_over_a_tools_limit_gets_429_with_retry_after_and_a_json_rpc_error_while_others_go_on()
    {
        await using var gateway = Gateway(perMinute: 2);
        var tenantA = gateway.CreateClient(TestKeys.Writer);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(tenantA, "search_docs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(tenantA, "search_docs")).StatusCode);
        var hits = _upstream.Hits;

        foreach (var spelling in (string[])["search_docs", "Search_Docs"]) // another case draws from the same bucket
        {
            var limited = await CallAsync(tenantA, spelling);
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.InRange(int.Parse(limited.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 30);
            var body = JsonDocument.Parse(await limited.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(("rate_limited", 5), (body.GetProperty("code").GetString(), body.GetProperty("id").GetInt32()));
            Assert.Contains("search_docs", body.GetProperty("error").GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(hits, _upstream.Hits); // refused before the server

        Assert.Equal(HttpStatusCode.OK, (await CallAsync(tenantA, "delete_records")).StatusCode); // another tool: no limit
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(gateway.CreateClient(TestKeys.OtherWriter), "search_docs")).StatusCode); // another tenant: its own bucket

        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(2, Sample(metrics, "mcp_tool_rate_limited_total", ("connector", "mcp:tools"), ("tool", "search_docs")));
        Assert.Equal(2, Sample(metrics, "connector_calls_total", ("connector", "mcp:tools"), ("outcome", "caller_error")));
    }

    [Fact]
    public async Task Two_gateway_replicas_draw_a_tools_calls_from_one_bucket_in_redis()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var one = Gateway(perMinute: 3, ("ConnectionStrings:ratelimit", redis.ConnectionString));
        await using var other = Gateway(perMinute: 3, ("ConnectionStrings:ratelimit", redis.ConnectionString));
        var clients = new[] { one.CreateClient(TestKeys.Writer), other.CreateClient(TestKeys.Writer) };
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            answers.Add((await CallAsync(clients[i % 2], "search_docs")).StatusCode);
        }
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], answers);
    }

    [Fact]
    public void A_limit_that_is_not_a_whole_number_stops_the_gateway_at_start_up()
    {
        using var gateway = Gateway(perMinute: 2, ("Mcp:RateLimits:mcp:tools:delete_records", "fast"));
        var failure = Assert.ThrowsAny<Exception>(() => gateway.CreateClient());
        Assert.Contains("Mcp:RateLimits:mcp:tools:delete_records", failure.ToString());
    }
}
