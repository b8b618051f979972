using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Agent33.Gateway.Boundary;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>What an adversarial probe with one tenant's write key found, each closed: answers held in memory,
/// circuits opened by the caller's own faults, governance bypasses, a timeout that disabled the timeout, labels and
/// hosts on the anonymous /metrics, a tools/list filter that failed open, special-purpose addresses, header leaks.</summary>
public sealed class SecurityTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private const string DeleteCall = """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_records","arguments":{"table":"users"}}}""";

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Large_failed_answers_are_cut_at_the_hold_limit_and_memory_stays_bounded_four_at_once()
    {
        using var gateway = await StartProcessAsync(("Connectors:0:RetryAttempts", "0"), ("Connectors:0:Circuit:FailureThreshold", "100"));
        var client = gateway.CreateClient(TestKeys.Writer);
        var answers = await Task.WhenAll(new[] { 500, 503, 429, 408 }.Select(status => CallAsync(client, $"/connectors/llm:test/big/{status}?mb=256")));

        Assert.All(answers, a => Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (a.Status, a.Code)));
        // Before the limit, four such answers took the gateway past 3 GB.
        Assert.True(gateway.PeakMegabytes() < 250, $"the gateway peaked at {gateway.PeakMegabytes():F0} MB");
    }

    /// <summary>The gateway as a real process on Kestrel, with an HTTP and an MCP connector to the test upstream.</summary>
    private Task<ServiceProcess> StartProcessAsync(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>(TestKeys.Settings())
        {
            ["RateLimiting:WritesPerSecond"] = "0",
            ["services:learning-service:http:0"] = "http://127.0.0.1:9",
            ["Connectors:0:Id"] = "llm:test", ["Connectors:0:Kind"] = "http", ["Connectors:0:Destination"] = _upstream.Address,
            ["Connectors:1:Id"] = "mcp:tools", ["Connectors:1:Kind"] = "mcp", ["Connectors:1:Destination"] = $"{_upstream.Address}/mcp",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }
        return ServiceProcess.StartAsync("Agent33.Gateway", settings);
    }

    [Fact]
    public async Task A_tools_list_answer_over_the_hold_limit_is_refused_not_passed_on_unfiltered()
    {
        await using var gateway = new GatewayFactory([
            .. GatewayFactory.Connector(0, "mcp:fake", $"{_upstream.Address}/fake-mcp/json", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]),
            ("Governance:MaxHeldResponseBytes", "64"),
        ]);
        var (status, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/mcp:fake", HttpMethod.Post,
            Json("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""));
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (status, code));
        Assert.DoesNotContain("delete_records", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("json")]
    [InlineData("multiline-sse")]
    [InlineData("bom")]
    [InlineData("gzip-when-asked")]
    public async Task A_tools_list_answer_in_any_shape_loses_its_denied_tools(string shape)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:fake", $"{_upstream.Address}/fake-mcp/{shape}", kind: "mcp",
            more: [("Tools:Deny:0", "delete_*")]));
        var (status, _, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/mcp:fake", HttpMethod.Post,
            Json("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""), ("Accept-Encoding", "gzip"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("search_docs", text);
        Assert.DoesNotContain("delete_records", text);
    }

    [Fact]
    public async Task A_tools_list_answer_the_gateway_cannot_read_is_refused()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:fake", $"{_upstream.Address}/fake-mcp/gzip-always", kind: "mcp",
            more: [("Tools:Deny:0", "delete_*")]));
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/mcp:fake", HttpMethod.Post,
            Json("""{"jsonrpc":"2.0","id":1,"method":"TOOLS/LIST"}"""));
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (status, code));
    }

    [Fact]
    public async Task The_callers_own_faults_never_open_a_connectors_circuit()
    {
        // A real Kestrel, whose request body limit is what a caller's oversized body runs into.
        using var gateway = await StartProcessAsync(("Limits:MaxRequestBodyBytes", "65536"), ("Connectors:0:RetryAttempts", "0"));
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 4; i++)
        {
            foreach (var path in new[] { "/connectors/llm:test/echo", "/connectors/mcp:tools" })
            {
                using var oversized = new ByteArrayContent(new byte[100 * 1024]);
                var (status, code, _) = await CallAsync(client, path, HttpMethod.Put, oversized);
                Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "payload_too_large"), (status, code));
            }
            await SendCutShortAsync(gateway.BaseAddress, "/connectors/llm:test/echo");
        }

        foreach (var id in new[] { "llm:test", "mcp:tools" })
        {
            var circuit = (await client.GetFromJsonAsync<System.Text.Json.JsonElement>($"/v1/connectors/{id}")).GetProperty("circuit");
            Assert.Equal(("closed", 0), (circuit.GetProperty("state").GetString(), circuit.GetProperty("total_trips").GetInt32()));
        }
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
    }

    [Fact]
    public async Task Callers_that_go_away_mid_call_are_neither_timeouts_nor_failures()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 4; i++)
        {
            using var gone = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetAsync("/connectors/llm:test/slow", gone.Token));
        }
        await Eventually.WaitUntilAsync(async () =>
        {
            var view = await client.GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/connectors/llm:test");
            return view.GetProperty("metrics").GetProperty("total_calls").GetInt64() == 0 // the caller's doing is not the upstream's record
                   && view.GetProperty("circuit").GetProperty("state").GetString() == "closed"
                   && view.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32() == 0;
        }, "the abandoned calls to settle", seconds: 15);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/llm:test/ok")).Status);
    }

    /// <summary>Promises a body of 100 kB, sends 10 bytes, and goes away.</summary>
    private static async Task SendCutShortAsync(Uri gateway, string path)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TestKeys.Writer}\r\nContent-Length: 100000\r\n\r\n0123456789"));
        await stream.FlushAsync();
        await Task.Delay(100);
    }

    [Theory]
    [InlineData("PUT", DeleteCall)]
    [InlineData("PATCH", DeleteCall)]
    [InlineData("GET", DeleteCall)]
    [InlineData("OPTIONS", DeleteCall)]
    [InlineData("POST", $"[{DeleteCall}]")]
    [InlineData("POST", $"[[{DeleteCall}]]")]
    [InlineData("POST", """{"jsonrpc":"2.0","id":7,"method":["tools/call"],"params":{"name":"delete_records"}}""")]
    [InlineData("POST", """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":["delete_records"]}}""")]
    [InlineData("POST", """{"jsonrpc":"2.0","id":7,"method":"TOOLS/CALL","params":{"name":"delete_records"}}""")]
    [InlineData("POST", """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"Delete_Records"}}""")]
    [InlineData("POST", """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":["delete_records"]}""")]
    public async Task Every_body_sent_to_an_mcp_connector_is_judged_whatever_its_method_or_shape(string method, string body)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]));
        var hits = _upstream.Hits;
        var deletes = _upstream.DeleteRecordsCalls;
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/mcp:tools", new HttpMethod(method), Json(body),
            ("Accept", "application/json, text/event-stream"));
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), (status, code));
        Assert.Equal((hits, deletes), (_upstream.Hits, _upstream.DeleteRecordsCalls));
    }

    [Theory]
    [InlineData("PUT")]
    [InlineData("POST")]
    public async Task Mcp_readonly_refuses_a_tool_call_sent_with_any_method(string method)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more: [("PolicyPack", "mcp-readonly")]));
        var body = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"x"}}}""";
        Assert.Equal(HttpStatusCode.Forbidden, (await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/mcp:tools", new HttpMethod(method), Json(body))).Status);
    }

    [Theory]
    [InlineData("DELETE", "read")]
    [InlineData("GET", "EXPORT")]
    [InlineData("delete", null)]
    public async Task A_label_never_stands_in_for_the_method_and_case_changes_nothing(string method, string? label)
    {
        await using var gateway = new GatewayFactory([
            .. GatewayFactory.Connector(0, "llm:test", _upstream.Address),
            ("Governance:BlockedOperations:0", "DELETE"), ("Governance:BlockedOperations:1", "export"),
        ]);
        var hits = _upstream.Hits;
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/ok", new HttpMethod(method),
            headers: label is null ? [] : [("X-Connector-Operation", label)]);
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), (status, code));
        Assert.Equal(hits, _upstream.Hits);
    }

    [Theory]
    [InlineData("1e-9")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("soon")]
    public async Task A_timeout_header_that_would_disable_the_timeout_is_refused(string value)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var hits = _upstream.Hits;
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/slow", headers: ("X-Connector-Timeout", value));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_timeout"), (status, code));
        Assert.Equal(hits, _upstream.Hits);
    }

    [Fact]
    public async Task A_long_timeout_header_is_capped_by_configuration()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address, more: [("TimeoutSeconds", "0.2"), ("MaxTimeoutSeconds", "0.5")]));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/slow", headers: ("X-Connector-Timeout", "3600"));
        Assert.Equal((HttpStatusCode.GatewayTimeout, "timeout"), (status, code));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"{clock.Elapsed}");
    }

    [Fact]
    public async Task The_anonymous_metrics_show_neither_caller_labels_nor_the_hosts_callers_reach()
    {
        var id = $"tool:{Guid.NewGuid():N}"; // its own id: other tests' gateways feed the same meter
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, id, "http://unused.invalid",
            more: [("AllowedHosts:0", "localhost"), ("AllowPrivateNetworks", "true")]));
        var client = gateway.CreateClient(TestKeys.Writer);
        var port = new Uri(_upstream.Address).Port;
        for (var i = 0; i < 50; i++)
        {
            await CallAsync(client, $"/connectors/{id}/", headers: [("X-Connector-Target", $"http://localhost:{port}/ok"), ("X-Connector-Operation", $"probe-{i}")]);
        }
        var metrics = await ScrapeAsync(gateway);
        Assert.DoesNotContain("probe-", metrics);
        // (The test's upstream Kestrel runs in this process and shows its own listening address; the gateway's
        // outgoing calls must not show where they went.)
        var outgoing = metrics.Split('\n').Where(l => l.StartsWith("http_client_", StringComparison.Ordinal) || l.StartsWith("dns_", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(outgoing);
        Assert.DoesNotContain(outgoing, l => l.Contains("server_address") || l.Contains("server_port") || l.Contains("dns_question_name"));
        Assert.DoesNotContain("localhost", metrics);
        Assert.Equal(50, Sample(metrics, "connector_calls_total", ("connector", id), ("operation", "other"), ("outcome", "success")));
    }

    [Theory]
    [InlineData("::127.0.0.1")]
    [InlineData("::a00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("64:ff9b:1::1")]
    [InlineData("2002:a9fe:a9fe::1")]
    [InlineData("2001:db8::1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.254")]
    [InlineData("192.0.0.8")]
    [InlineData("192.88.99.1")]
    [InlineData("240.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("fec0::1")]
    public void Special_purpose_addresses_are_not_public(string address) => Assert.True(CallerTargets.IsPrivate(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("198.20.0.1")]
    public void Public_addresses_are_public(string address) => Assert.False(CallerTargets.IsPrivate(IPAddress.Parse(address)));

    /// <summary>Resolves every host to what the test says and records each connect; it connects to loopback only.</summary>
    private sealed class RecordingSockets(params IPAddress[][] answers) : TargetSockets
    {
        private int _lookups;
        public List<IPAddress> Connects { get; } = [];

        public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            Task.FromResult(answers[Math.Min(Interlocked.Increment(ref _lookups) - 1, answers.Length - 1)]);

        public override ValueTask<Stream> ConnectAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
        {
            lock (Connects)
            {
                Connects.AddRange(addresses);
            }
            return addresses.All(IPAddress.IsLoopback) ? base.ConnectAsync(addresses, port, cancellationToken) : throw new HttpRequestException("the test connects to loopback only");
        }
    }

    [Theory]
    [InlineData("http://[::127.0.0.1]/")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/")]
    [InlineData("http://[2002:a9fe:a9fe::1]/")]
    [InlineData("http://198.18.0.1/")]
    [InlineData("http://192.0.0.8/")]
    public async Task A_special_purpose_target_is_refused_before_any_connect(string target)
    {
        var sockets = new RecordingSockets([IPAddress.Loopback]);
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "tool:web_fetch", "http://unused.invalid", more: [("AllowedHosts:0", "*")]));
        gateway.ConfigureServices = services => services.AddSingleton<TargetSockets>(sockets);
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/tool:web_fetch/", headers: ("X-Connector-Target", target));
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), (status, code));
        Assert.Empty(sockets.Connects);
    }

    [Fact]
    public async Task A_name_that_rebinds_to_a_private_address_is_refused_at_connect_without_a_packet_sent()
    {
        // The first lookup (the boundary's check) answers a public address, the connect-time lookup loopback.
        var sockets = new RecordingSockets([IPAddress.Parse("8.8.8.8")], [IPAddress.Loopback]);
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "tool:web_fetch", "http://unused.invalid", more: [("AllowedHosts:0", "rebind.example")]));
        gateway.ConfigureServices = services => services.AddSingleton<TargetSockets>(sockets);
        var (status, code, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/tool:web_fetch/", headers: ("X-Connector-Target", "http://rebind.example/"));
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (status, code));
        Assert.Empty(sockets.Connects);
    }

    [Fact]
    public async Task Allowed_hosts_can_pin_a_port()
    {
        var port = new Uri(_upstream.Address).Port;
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "tool:web_fetch", "http://unused.invalid",
            more: [("AllowedHosts:0", $"127.0.0.1:{port}"), ("AllowPrivateNetworks", "true")]));
        var client = gateway.CreateClient(TestKeys.Writer);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/tool:web_fetch/", headers: ("X-Connector-Target", $"http://127.0.0.1:{port}/ok"))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await CallAsync(client, "/connectors/tool:web_fetch/", headers: ("X-Connector-Target", $"http://127.0.0.1:{port + 1}/ok"))).Status);
    }

    [Theory]
    [InlineData("/connectors/a%0D%0AX-Injected:%201/x")]
    [InlineData("/connectors/a%7Fb/x")]
    [InlineData("/connectors/%C3%A9t%C3%A9/x")]
    public async Task An_unknown_connector_id_with_control_or_non_ascii_characters_is_a_404(string path)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var (status, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), path);
        Assert.Equal((HttpStatusCode.NotFound, "connector_not_found"), (status, code));
        Assert.False(response.Headers.Contains("X-Injected"));
    }

    [Fact]
    public async Task Headers_named_in_connection_and_cookies_stay_at_the_gateway()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var (status, _, _) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/headers",
            headers: [("Connection", "keep-alive, X-Internal-Token"), ("X-Internal-Token", "secret"), ("Cookie", "session=abc"), ("X-Kept", "yes")]);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(_upstream.LastHeaders!.ContainsKey("X-Internal-Token"));
        Assert.False(_upstream.LastHeaders.ContainsKey("Cookie"));
        Assert.Equal("yes", _upstream.LastHeaders["X-Kept"].ToString());
    }
}
