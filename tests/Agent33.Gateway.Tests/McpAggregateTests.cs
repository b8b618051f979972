using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Agent33.Testing;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Agent33.Gateway.Tests;

/// <summary>
/// <c>/mcp</c>: one endpoint over every mcp connector a tenant may use, through the official MCP C# SDK client; each
/// call meets its connector's own boundary (governance, metrics) because it enters through the connector's door.
/// </summary>
public sealed class McpAggregateTests : IAsyncLifetime
{
    private Upstream _docs = null!;
    private Upstream _records = null!;

    public async Task InitializeAsync()
    {
        _docs = await Upstream.StartAsync();
        _records = await Upstream.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _docs.DisposeAsync();
        await _records.DisposeAsync();
    }

    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        .. GatewayFactory.Connector(0, "mcp:docs", $"{_docs.Address}/mcp", kind: "mcp"),
        .. GatewayFactory.Connector(1, "mcp:records", $"{_records.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]),
        .. GatewayFactory.Connector(2, "web:fetch", _docs.Address),
        ("Mcp:Pinning", "off"),
        .. more,
    ]);

    private static Task<McpClient> ConnectAsync(GatewayFactory gateway, string key = TestKeys.Writer) =>
        gateway.CreateClient().ConnectMcpAsync("/mcp", key);

    [Fact]
    public async Task Tools_of_every_mcp_connector_are_listed_once_prefixed_with_governance_applied()
    {
        await using var gateway = Gateway();
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();

        Assert.Equal(
            ["mcp:docs__delete_records", "mcp:docs__search_docs", "mcp:docs__slow_report", "mcp:records__search_docs", "mcp:records__slow_report"],
            tools.Select(t => t.Name).Order());
        Assert.Equal("Searches documents.", tools.First(t => t.Name == "mcp:docs__search_docs").Description);
    }

    [Fact]
    public async Task A_call_reaches_the_owning_connector_through_its_boundary()
    {
        await using var gateway = Gateway();
        await using var client = await ConnectAsync(gateway);
        var (docs, records) = (_docs.Hits, _records.Hits);

        var result = await client.CallToolAsync("mcp:records__search_docs", new Dictionary<string, object?> { ["query"] = "breakers" });

        Assert.NotEqual(true, result.IsError);
        Assert.Equal("found breakers", Assert.IsType<TextContentBlock>(result.Content.Single()).Text);
        Assert.True(_records.Hits > records);
        Assert.Equal(docs, _docs.Hits); // listing nothing, the other connector was never opened
        var monitored = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonObject>("/v1/connectors/mcp:records");
        Assert.True((long)monitored!["metrics"]!["total_calls"]! >= 1, monitored.ToJsonString());
    }

    [Fact]
    public async Task A_request_to_mcp_takes_one_write_token_however_many_connectors_it_reaches()
    {
        // Twenty writes in the key's bucket (one more each second). Through /mcp a session's first list opens a session
        // at each of two connectors inside the gateway (an initialize, an initialized and a list each), and every call
        // is a call at its connector's door too: charged there as well, the bucket would last about half as many writes.
        const int burst = 20;
        await using var gateway = Gateway(("RateLimiting:WritesPerSecond", "1"), ("RateLimiting:Burst", $"{burst}"));
        var posts = new PostCounter();
        var clock = System.Diagnostics.Stopwatch.StartNew(); // from the key's first write: its bucket refills from then
        await using var client = await gateway.CreateDefaultClient(posts).ConnectMcpAsync("/mcp");

        Assert.Equal(5, (await client.ListToolsAsync()).Count);
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            for (var i = 0; i < 2 * burst; i++)
            {
                var result = await client.CallToolAsync("mcp:records__search_docs", new Dictionary<string, object?> { ["query"] = "breakers" });
                Assert.NotEqual(true, result.IsError);
            }
        });

        Assert.Contains("429", refused.ToString());
        var admitted = posts.Count - 1; // the last one was refused
        Assert.InRange(admitted, burst, burst + (int)Math.Ceiling(clock.Elapsed.TotalSeconds) + 1);
    }

    /// <summary>Counts the client's POSTs to /mcp: each is one write of the caller's.</summary>
    private sealed class PostCounter : DelegatingHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Post)
            {
                Interlocked.Increment(ref _count);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task A_tool_its_connector_denies_is_refused_with_the_connectors_reason_and_never_reaches_the_server()
    {
        await using var gateway = Gateway();
        await using var client = await ConnectAsync(gateway);
        var deletes = _records.DeleteRecordsCalls;

        var refused = await Assert.ThrowsAnyAsync<McpException>(() =>
            client.CallToolAsync("mcp:records__delete_records", new Dictionary<string, object?> { ["table"] = "users" }).AsTask());

        Assert.Contains("governance_blocked", refused.Message, StringComparison.Ordinal);
        Assert.Equal(deletes, _records.DeleteRecordsCalls);
    }

    [Fact]
    public async Task A_name_of_no_connector_is_an_invalid_params_error()
    {
        await using var gateway = Gateway();
        await using var client = await ConnectAsync(gateway);

        var refused = await Assert.ThrowsAnyAsync<McpException>(() =>
            client.CallToolAsync("web:fetch__search_docs", new Dictionary<string, object?> { ["query"] = "x" }).AsTask());

        Assert.Contains("names no connector", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tenant_sees_only_the_connectors_its_globs_name()
    {
        await using var gateway = Gateway(("Mcp:Tenants:tenant-a:Connectors:0", "mcp:rec*"));
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["mcp:records__search_docs", "mcp:records__slow_report"], tools.Select(t => t.Name).Order());
        await Assert.ThrowsAnyAsync<McpException>(() =>
            client.CallToolAsync("mcp:docs__search_docs", new Dictionary<string, object?> { ["query"] = "x" }).AsTask());

        await using var other = await ConnectAsync(gateway, TestKeys.OtherWriter); // tenant-b: no globs, every connector
        Assert.Equal(5, (await other.ListToolsAsync()).Count);
    }

    [Fact]
    public async Task A_connector_that_is_down_is_left_out_of_the_list_rather_than_failing_it()
    {
        await using var gateway = Gateway(GatewayFactory.Connector(3, "mcp:down", $"http://127.0.0.1:{Loopback.FreePort()}/mcp", kind: "mcp"));
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();

        Assert.Equal(5, tools.Count);
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("mcp:down", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connector_that_comes_back_is_announced_with_tools_list_changed_and_listed_again()
    {
        var port = Loopback.FreePort();
        await using var gateway = Gateway([("Mcp:RetryLeftOutSeconds", "0.2"),
            .. GatewayFactory.Connector(3, "mcp:late", $"http://127.0.0.1:{port}/mcp", kind: "mcp")]);
        await using var client = await ConnectAsync(gateway);
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var handler = client.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification, (_, _) =>
        {
            changed.TrySetResult();
            return ValueTask.CompletedTask;
        });
        Assert.Equal(5, (await client.ListToolsAsync()).Count);

        await using var late = await Upstream.StartAsync(port);
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(60));

        var tools = await client.ListToolsAsync();
        Assert.Equal(8, tools.Count);
        Assert.Contains(tools, t => t.Name == "mcp:late__search_docs");
    }

    [Fact]
    public async Task Progress_of_a_long_call_reaches_the_client()
    {
        await using var gateway = Gateway();
        await using var client = await ConnectAsync(gateway);
        var reported = new List<ProgressNotificationValue>();

        var result = await client.CallToolAsync("mcp:docs__slow_report", new Dictionary<string, object?> { ["seconds"] = 1.0 },
            new SynchronousProgress(reported.Add));

        Assert.NotEqual(true, result.IsError);
        Assert.NotEmpty(reported);
    }

    [Fact]
    public async Task Without_a_key_mcp_is_refused()
    {
        await using var gateway = Gateway();
        var response = await gateway.CreateClient().PostAsJsonAsync("/mcp", new { jsonrpc = "2.0", id = 1, method = "tools/list" });
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
    }

    private sealed class SynchronousProgress(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value)
        {
            lock (this)
            {
                report(value);
            }
        }
    }
}
