using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Testing;
using CsCheck;
using ModelContextProtocol.Client;

namespace Agent33.Gateway.Tests;

/// <summary>MCP through the gateway: the official MCP client, a real MCP server, the gateway's tool governance in between.</summary>
public sealed class McpGovernanceTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static Task<McpClient> ConnectAsync(GatewayFactory gateway) => gateway.CreateClient().ConnectMcpAsync("/connectors/mcp:tools");

    [Fact]
    public async Task With_mcp_readonly_tools_list_works_and_tools_call_is_refused()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more: [("PolicyPack", "mcp-readonly")]));
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["delete_records", "search_docs", "slow_report"], tools.Select(t => t.Name).Order());

        var hits = _upstream.Hits;
        await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "x" }).AsTask());
        Assert.Equal(hits, _upstream.Hits);
    }

    [Fact]
    public async Task A_denied_tool_vanishes_from_tools_list_and_calling_it_is_refused()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]));
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["search_docs", "slow_report"], tools.Select(t => t.Name).Order());
        var allowed = await client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "breakers" });
        Assert.NotEqual(true, allowed.IsError);

        var hits = _upstream.Hits;
        await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("delete_records", new Dictionary<string, object?> { ["table"] = "users" }).AsTask());
        Assert.Equal(hits, _upstream.Hits);
    }

    [Fact]
    public async Task An_argument_rule_refuses_a_call_whose_argument_it_does_not_allow_and_names_itself()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more:
        [
            ("Tools:Arguments:0:Name", "docs-about-resilience"), ("Tools:Arguments:0:Tool", "search_*"), ("Tools:Arguments:0:Pointer", "/query"),
            ("Tools:Arguments:0:Match:0", "*breaker*"), ("Tools:Arguments:0:Match:1", "*retry*"),
            ("Tools:Arguments:1:Name", "no-system-tables"), ("Tools:Arguments:1:Tool", "delete_records"), ("Tools:Arguments:1:Pointer", "/table"),
            ("Tools:Arguments:1:Effect", "deny"), ("Tools:Arguments:1:Match:0", "pg_*"),
        ]));
        await using var client = await ConnectAsync(gateway);
        Assert.NotEqual(true, (await client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "circuit breakers" })).IsError);
        Assert.NotEqual(true, (await client.CallToolAsync("delete_records", new Dictionary<string, object?> { ["table"] = "users" })).IsError);

        var hits = _upstream.Hits;
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "secrets" }).AsTask());
        await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("search_docs", new Dictionary<string, object?>()).AsTask()); // left out: refused too
        await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("delete_records", new Dictionary<string, object?> { ["table"] = "pg_authid" }).AsTask());
        Assert.Equal(hits, _upstream.Hits);

        Assert.Contains("docs-about-resilience", refused.Message); // the JSON-RPC error names the rule
        using var content = new StringContent("""{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"secrets"}}}""",
            Encoding.UTF8, "application/json");
        using var response = await gateway.CreateClient(TestKeys.Writer).PostAsync("/connectors/mcp:tools", content);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("governance_blocked", problem.ProblemCode());
        Assert.Contains("Argument rule 'docs-about-resilience' refuses /query of tool 'search_docs'", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Arguments_that_are_not_an_object_cannot_be_judged_and_are_refused()
    {
        await using var gateway = DenyingDeletes(_upstream);
        var client = gateway.CreateClient(TestKeys.Writer);
        var hits = _upstream.Hits;
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"),
            await PostAsync(client, """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":["x"]}}"""u8.ToArray()));
        Assert.Equal(hits, _upstream.Hits);
    }

    private static GatewayFactory DenyingDeletes(Upstream upstream) =>
        new(GatewayFactory.Connector(0, "mcp:tools", $"{upstream.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]));

    private static async Task<(HttpStatusCode Status, string? Code)> PostAsync(HttpClient client, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connectors/mcp:tools") { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await client.SendAsync(request);
        var code = await response.ProblemCodeIfAnyAsync();
        return (response.StatusCode, code);
    }

    private const string DeleteCall = """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_records","arguments":{"table":"users"}}}""";

    [Theory]
    [InlineData("padded past the inspection limit")]
    [InlineData("byte order mark")]
    [InlineData("duplicate tool name")]
    [InlineData("duplicate method")]
    [InlineData("trailing comma")]
    [InlineData("broken UTF-8")]
    [InlineData("half a surrogate pair")]
    public async Task A_body_governance_cannot_read_is_refused_and_never_reaches_the_server(string disguise)
    {
        await using var gateway = DenyingDeletes(_upstream);
        var client = gateway.CreateClient(TestKeys.Writer);
        var body = disguise switch
        {
            "padded past the inspection limit" => Encoding.UTF8.GetBytes(DeleteCall[..^1] + new string(' ', 2 * 1024 * 1024) + "}"),
            "byte order mark" => [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(DeleteCall)],
            "duplicate tool name" => Encoding.UTF8.GetBytes(DeleteCall.Replace("\"name\":\"delete_records\"", "\"name\":\"search_docs\",\"name\":\"delete_records\"")),
            "duplicate method" => Encoding.UTF8.GetBytes(DeleteCall.Replace("\"method\":\"tools/call\"", "\"method\":\"tools/list\",\"method\":\"tools/call\"")),
            "trailing comma" => Encoding.UTF8.GetBytes(DeleteCall[..^1] + ",}"),
            "half a surrogate pair" => Encoding.UTF8.GetBytes(DeleteCall.Replace("delete_records", "delete_records\\ud83d")),
            _ => Encoding.UTF8.GetBytes(DeleteCall.Replace("users", "us\uFFFDers")).Select(b => b == 0xEF ? (byte)0xC3 : b).ToArray(),
        };
        var hits = _upstream.Hits;
        var deletes = _upstream.DeleteRecordsCalls;

        // Past the inspection limit it is the caller's 413; anything unreadable is governance's 403.
        Assert.Equal(disguise == "padded past the inspection limit" ? (HttpStatusCode.RequestEntityTooLarge, "payload_too_large") : (HttpStatusCode.Forbidden, "governance_blocked"),
            await PostAsync(client, body));
        Assert.Equal(hits, _upstream.Hits);
        Assert.Equal(deletes, _upstream.DeleteRecordsCalls);
    }

    [Fact]
    public async Task Readable_calls_and_bare_responses_still_pass()
    {
        await using var gateway = DenyingDeletes(_upstream);
        var client = gateway.CreateClient(TestKeys.Writer);
        var hits = _upstream.Hits;
        var allowed = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"x"}}}""";
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, Encoding.UTF8.GetBytes(allowed))).Status);
        // A client's answer to a server request carries no method; governance has nothing to refuse in it.
        Assert.NotEqual(HttpStatusCode.Forbidden, (await PostAsync(client, """{"jsonrpc":"2.0","id":3,"result":{}}"""u8.ToArray())).Status);
        Assert.Equal(hits + 2, _upstream.Hits);
    }

    [Fact]
    public async Task No_fuzzed_json_rpc_body_runs_a_denied_tool_or_gets_a_500()
    {
        await using var gateway = DenyingDeletes(_upstream);
        var client = gateway.CreateClient(TestKeys.Writer);
        JsonNode?[] toolNames = ["delete_records", "search_docs", "DELETE_RECORDS", "delete_records ", "delete_", "search_docs\u0000"];
        var call = FuzzInputs.ObjectWith(new Dictionary<string, JsonNode?[]>
        {
            ["name"] = toolNames,
            ["arguments"] = [new JsonObject { ["table"] = "users" }, new JsonObject { ["query"] = "x" }],
        });
        var message = Gen.Select(FuzzInputs.ObjectWith(new Dictionary<string, JsonNode?[]>
        {
            ["jsonrpc"] = ["2.0", "1.0"],
            ["id"] = [1, "a", null],
            ["method"] = ["tools/call", "tools/call", "tools/list", "initialize", "ping", "resources/read", "tools/CALL"],
        }), call, Gen.Bool).Select((m, parameters, withParams) =>
        {
            if (withParams)
            {
                m["params"] = parameters;
            }
            return m;
        });
        var body = Gen.Frequency(
            (4, message.Select(m => Encoding.UTF8.GetBytes(m.ToJsonString()))),
            (2, message.Array[1, 4].Select(batch => Encoding.UTF8.GetBytes(new JsonArray([.. batch]).ToJsonString()))),
            (2, message.Select(m => Encoding.UTF8.GetBytes(m.ToJsonString())).SelectMany(FuzzInputs.Broken)));
        var deletes = _upstream.DeleteRecordsCalls;
        int refused = 0, passed = 0;

        await body.SampleAsync(async bytes =>
        {
            var (status, code) = await PostAsync(client, bytes);
            Assert.True((int)status < 500 || code is "http_error" or "timeout", $"{(int)status} {code}");
            if (status == HttpStatusCode.Forbidden && code == "governance_blocked")
            {
                Interlocked.Increment(ref refused);
            }
            else
            {
                Interlocked.Increment(ref passed);
            }
        }, iter: 400, threads: 1, print: b => Encoding.UTF8.GetString(b));

        Assert.Equal(deletes, _upstream.DeleteRecordsCalls);
        Assert.True(refused > 20 && passed > 20, $"{refused} refused, {passed} passed");
    }
}
