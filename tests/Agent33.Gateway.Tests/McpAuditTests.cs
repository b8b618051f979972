using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Agent33.Gateway.Mcp;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The MCP audit trail: tools/call through a connector's door against a real MCP server on loopback, recorded in
/// memory and in a real Postgres, read back through <c>GET /v1/mcp/audit</c> and its export.
/// </summary>
public sealed class McpAuditTests : IAsyncLifetime
{
    private const string Connector = "mcp:tools";
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    /// <summary>The MCP connector, <c>delete_*</c> denied by its tool rules.</summary>
    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        .. GatewayFactory.Connector(0, Connector, $"{_upstream.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]),
        .. more,
    ]);

    private static async Task<HttpStatusCode> CallToolAsync(HttpClient client, string tool, string arguments)
    {
        using var content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""" + JsonSerializer.Serialize(tool) + ""","arguments":""" + arguments + "}}",
            Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/connectors/{Connector}") { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsStringAsync();
        return response.StatusCode;
    }

    private static async Task<(List<JsonElement> Records, string? Next)> ReadAsync(HttpClient client, string query = "")
    {
        using var response = await client.GetAsync($"/v1/mcp/audit{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var next = response.Headers.TryGetValues("Link", out var links) ? links.Single() : null;
        return ([.. JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray()], next);
    }

    /// <summary>Records are written in the background: waits until the tenant's trail holds <paramref name="count"/>.</summary>
    private static async Task<List<JsonElement>> WaitForAsync(HttpClient client, int count)
    {
        List<JsonElement> records = [];
        await Eventually.WaitUntilAsync(async () => (records = (await ReadAsync(client)).Records).Count >= count, $"{count} audit records", seconds: 20);
        Assert.Equal(count, records.Count);
        return records;
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The key's id as the gateway's authentication names it: a prefix of the key's hash.</summary>
    private static string KeyId(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12];

    [Fact]
    public async Task A_successful_and_a_denied_call_are_recorded_with_outcome_tool_connector_duration_and_argument_hash()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        Assert.Equal(HttpStatusCode.OK, await CallToolAsync(client, "slow_report", """{"seconds":0.4}"""));
        Assert.Equal(HttpStatusCode.Forbidden, await CallToolAsync(client, "delete_records", """{"table":"users","why":{"b":1,"a":[2,3]}}"""));
        Assert.Equal(HttpStatusCode.Forbidden, await CallToolAsync(client, "delete_records", """{"why":{"a":[2,3],"b":1},"table":"users"}""")); // same arguments, other order

        var records = await WaitForAsync(client, 3);
        var report = records.Single(r => r.GetProperty("tool").GetString() == "slow_report");
        Assert.Equal(("success", Connector, "tenant-a", KeyId(TestKeys.Writer)),
            (report.GetProperty("outcome").GetString(), report.GetProperty("connector").GetString(), report.GetProperty("tenant_id").GetString(), report.GetProperty("key_id").GetString()));
        Assert.InRange(report.GetProperty("duration_ms").GetDouble(), 400, 30_000); // the tool's own 0.4 s, at least
        Assert.Equal(Sha256("""{"seconds":0.4}"""), report.GetProperty("arguments_sha256").GetString());

        var denied = records.Where(r => r.GetProperty("tool").GetString() == "delete_records").ToList();
        Assert.Equal(["governance_blocked", "governance_blocked"], denied.Select(r => r.GetProperty("outcome").GetString()));
        Assert.All(denied, r => Assert.InRange(r.GetProperty("duration_ms").GetDouble(), 0, 10_000));
        Assert.Equal([Sha256("""{"table":"users","why":{"a":[2,3],"b":1}}""")], denied.Select(r => r.GetProperty("arguments_sha256").GetString()).Distinct());
        Assert.All(records, r => Assert.False(r.TryGetProperty("arguments", out _))); // absent unless Mcp:Audit:Arguments
        Assert.True(records[0].GetProperty("at").GetDateTimeOffset() >= records[1].GetProperty("at").GetDateTimeOffset()); // newest first
    }

    [Fact]
    public async Task With_arguments_on_the_configured_fields_are_redacted_at_any_depth()
    {
        await using var gateway = Gateway(("Mcp:Audit:Arguments", "true"), ("Mcp:Audit:RedactFields:0", "password"), ("Mcp:Audit:RedactFields:1", "token"));
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallToolAsync(client, "search_docs", """{"query":"breakers","auth":{"Password":"hunter2","user":"ann"},"items":[{"token":"tok-1"}]}""");

        var record = (await WaitForAsync(client, 1)).Single();
        var arguments = record.GetProperty("arguments");
        Assert.Equal("breakers", arguments.GetProperty("query").GetString());
        Assert.Equal(("[redacted]", "ann"), (arguments.GetProperty("auth").GetProperty("Password").GetString(), arguments.GetProperty("auth").GetProperty("user").GetString()));
        Assert.Equal("[redacted]", arguments.GetProperty("items")[0].GetProperty("token").GetString());
        Assert.DoesNotContain("hunter2", record.GetRawText());
        Assert.DoesNotContain("tok-1", record.GetRawText());
        // The hash is of the arguments as called, so equal calls are found equal whatever is redacted.
        Assert.Equal(Sha256("""{"auth":{"Password":"hunter2","user":"ann"},"items":[{"token":"tok-1"}],"query":"breakers"}"""), record.GetProperty("arguments_sha256").GetString());
    }

    [Fact]
    public async Task Pages_carry_link_rel_next_and_together_hold_every_record_once_newest_first()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 5; i++)
        {
            await CallToolAsync(client, "search_docs", $$"""{"query":"q{{i}}"}""");
            gateway.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        var all = await WaitForAsync(client, 5);

        var walked = new List<JsonElement>();
        var (page, next) = await ReadAsync(client, "?limit=2");
        walked.AddRange(page);
        var pages = 1;
        while (next is not null)
        {
            Assert.EndsWith("; rel=\"next\"", next);
            var target = next[1..next.IndexOf('>')];
            Assert.StartsWith("/v1/mcp/audit?", target);
            (page, next) = await ReadAsync(client, target["/v1/mcp/audit".Length..]);
            walked.AddRange(page);
            pages++;
        }
        Assert.Equal(3, pages);
        Assert.Equal(all.Select(r => r.GetProperty("id").GetString()), walked.Select(r => r.GetProperty("id").GetString()));
        Assert.Equal(5, walked.Select(r => r.GetProperty("id").GetString()).Distinct().Count());
        var times = walked.Select(r => r.GetProperty("at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderDescending(), times);
    }

    [Fact]
    public async Task Since_until_tool_connector_and_outcome_filter_the_list()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        var start = gateway.Clock.GetUtcNow();
        await CallToolAsync(client, "search_docs", """{"query":"a"}""");
        gateway.Clock.Advance(TimeSpan.FromHours(1));
        await CallToolAsync(client, "delete_records", """{"table":"t"}""");
        gateway.Clock.Advance(TimeSpan.FromHours(1));
        await CallToolAsync(client, "search_docs", """{"query":"b"}""");
        await WaitForAsync(client, 3);

        string Time(TimeSpan after) => Uri.EscapeDataString((start + after).ToString("O"));
        Assert.Equal(2, (await ReadAsync(client, $"?since={Time(TimeSpan.FromMinutes(30))}")).Records.Count);
        Assert.Single((await ReadAsync(client, $"?until={Time(TimeSpan.FromMinutes(30))}")).Records);
        Assert.Single((await ReadAsync(client, $"?since={Time(TimeSpan.FromMinutes(30))}&until={Time(TimeSpan.FromMinutes(90))}")).Records);
        Assert.Equal(["delete_records"], (await ReadAsync(client, "?tool=delete_records")).Records.Select(r => r.GetProperty("tool").GetString()));
        Assert.Equal(["delete_records"], (await ReadAsync(client, "?outcome=governance_blocked")).Records.Select(r => r.GetProperty("tool").GetString()));
        Assert.Equal(2, (await ReadAsync(client, "?outcome=success&tool=search_docs")).Records.Count);
        Assert.Equal(3, (await ReadAsync(client, $"?connector={Uri.EscapeDataString(Connector)}")).Records.Count);
        Assert.Empty((await ReadAsync(client, "?connector=another")).Records);

        var (status, code, _) = await GatewayCalls.CallAsync(client, "/v1/mcp/audit?outcome=fine");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_outcome"), (status, code));
        (status, code, _) = await GatewayCalls.CallAsync(client, "/v1/mcp/audit?since=yesterday");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_time"), (status, code));
    }

    [Fact]
    public async Task The_export_streams_every_matching_record_as_one_json_line_each()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 4; i++)
        {
            await CallToolAsync(client, i == 3 ? "delete_records" : "search_docs", $$"""{"query":"q{{i}}"}""");
        }
        await WaitForAsync(client, 4);

        using var export = await client.GetAsync("/v1/mcp/audit/export");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal("application/x-ndjson", export.Content.Headers.ContentType?.MediaType);
        var lines = (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.All(lines, line => Assert.Equal(Connector, JsonDocument.Parse(line).RootElement.GetProperty("connector").GetString()));

        var searches = (await client.GetStringAsync("/v1/mcp/audit/export?tool=search_docs")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, searches.Length);
    }

    [Fact]
    public async Task Another_tenants_records_are_invisible_and_naming_its_tenant_is_403_cross_tenant_denied()
    {
        await using var gateway = Gateway();
        var mine = gateway.CreateClient(TestKeys.Writer);
        var theirs = gateway.CreateClient(TestKeys.OtherWriter);
        await CallToolAsync(mine, "search_docs", """{"query":"a"}""");
        await CallToolAsync(theirs, "search_docs", """{"query":"b"}""");
        await CallToolAsync(theirs, "search_docs", """{"query":"c"}""");

        await WaitForAsync(theirs, 2);
        var own = await WaitForAsync(mine, 1);
        Assert.Equal("tenant-a", own.Single().GetProperty("tenant_id").GetString());

        foreach (var path in (string[])["/v1/mcp/audit?tenant_id=tenant-b", "/v1/mcp/audit/export?tenant_id=tenant-b"])
        {
            var (status, code, _) = await GatewayCalls.CallAsync(mine, path);
            Assert.Equal((HttpStatusCode.Forbidden, "cross_tenant_denied"), (status, code));
        }
        var asAdmin = (await ReadAsync(gateway.CreateClient(TestKeys.Admin), "?tenant_id=tenant-b")).Records;
        Assert.Equal(["tenant-b", "tenant-b"], asAdmin.Select(r => r.GetProperty("tenant_id").GetString()));
        Assert.Equal(2, (await ReadAsync(gateway.CreateClient(TestKeys.Service), "?tenant_id=tenant-b")).Records.Count);
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.CreateClient().GetAsync("/v1/mcp/audit")).StatusCode);
    }

    [Fact]
    public async Task Records_older_than_the_retention_are_swept()
    {
        await using var gateway = Gateway(("Mcp:Audit:RetentionDays", "90"));
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallToolAsync(client, "search_docs", """{"query":"old"}""");
        await WaitForAsync(client, 1);
        gateway.Clock.Advance(TimeSpan.FromDays(50));
        await CallToolAsync(client, "search_docs", """{"query":"recent"}""");
        await WaitForAsync(client, 2);
        gateway.Clock.Advance(TimeSpan.FromDays(41));

        var store = (InMemoryMcpAuditStore)gateway.Services.GetRequiredService<IMcpAuditStore>();
        await Eventually.WaitUntilAsync(() => store.Count == 1, "the sweep to delete the record past its retention", seconds: 10);
        Assert.Equal(Sha256("""{"query":"recent"}"""), (await ReadAsync(client)).Records.Single().GetProperty("arguments_sha256").GetString());
    }

    [Fact]
    public async Task Records_are_kept_in_postgres_without_the_key_read_by_another_gateway_and_swept_there()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            await using (var first = Gateway(("ConnectionStrings:gateway", database.ConnectionString)))
            {
                var client = first.CreateClient(TestKeys.Writer);
                await CallToolAsync(client, "search_docs", """{"query":"a"}""");
                first.Clock.Advance(TimeSpan.FromDays(60)); // within this gateway's retention; past it once the second's clock moves on
                await CallToolAsync(client, "delete_records", """{"table":"t"}""");
                first.Clock.Advance(TimeSpan.FromSeconds(1));
                await CallToolAsync(client, "search_docs", """{"query":"b"}""");
            } // stopped: what is still queued is written first

            await using (var connection = new Npgsql.NpgsqlConnection(database.ConnectionString))
            {
                await connection.OpenAsync();
                await using var rows = new Npgsql.NpgsqlCommand("SELECT row_to_json(a)::text FROM mcp_audit a", connection);
                await using var reader = await rows.ExecuteReaderAsync();
                var stored = new List<string>();
                while (await reader.ReadAsync())
                {
                    stored.Add(reader.GetString(0));
                }
                Assert.Equal(3, stored.Count);
                Assert.All(stored, row => Assert.DoesNotContain(TestKeys.Writer, row));
                Assert.All(stored, row => Assert.Contains(KeyId(TestKeys.Writer), row));
                Assert.All(stored, row => Assert.Null(JsonDocument.Parse(row).RootElement.GetProperty("arguments").GetString()));
            }

            // Another gateway on the same database reads what the first wrote; its clock moved 95 days on, its sweep
            // deletes the first call (past the 90 days' retention) and keeps the others (35 days old).
            await using var second = Gateway(("ConnectionStrings:gateway", database.ConnectionString));
            var reader2 = second.CreateClient(TestKeys.Reader);
            var records = (await ReadAsync(reader2)).Records;
            Assert.Equal(["search_docs", "delete_records", "search_docs"], records.Select(r => r.GetProperty("tool").GetString()));
            Assert.Equal(["success", "governance_blocked", "success"], records.Select(r => r.GetProperty("outcome").GetString()));
            second.Clock.Advance(TimeSpan.FromDays(95));
            await Eventually.WaitUntilAsync(async () => (await ReadAsync(reader2)).Records.Count == 2, "the sweep to delete the call past its retention", seconds: 20);
        }
        finally
        {
            await database.DisposeAsync();
        }
    }
}
