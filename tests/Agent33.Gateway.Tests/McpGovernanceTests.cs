using System.Net.Http.Headers;
using Agent33.Testing;
using ModelContextProtocol.Client;

namespace Agent33.Gateway.Tests;

/// <summary>MCP through the gateway: the official MCP client, a real MCP server, the gateway's tool governance in between.</summary>
public sealed class McpGovernanceTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static async Task<McpClient> ConnectAsync(GatewayFactory gateway)
    {
        var http = gateway.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestKeys.Writer);
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/connectors/mcp:tools"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, http, ownsHttpClient: true);
        return await McpClient.CreateAsync(transport);
    }

    [Fact]
    public async Task With_mcp_readonly_tools_list_works_and_tools_call_is_refused()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "mcp:tools", $"{_upstream.Address}/mcp", kind: "mcp", more: [("PolicyPack", "mcp-readonly")]));
        await using var client = await ConnectAsync(gateway);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["delete_records", "search_docs"], tools.Select(t => t.Name).Order());

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
        Assert.Equal(["search_docs"], tools.Select(t => t.Name));
        var allowed = await client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "breakers" });
        Assert.NotEqual(true, allowed.IsError);

        var hits = _upstream.Hits;
        await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("delete_records", new Dictionary<string, object?> { ["table"] = "users" }).AsTask());
        Assert.Equal(hits, _upstream.Hits);
    }
}
