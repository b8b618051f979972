using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Gateway.Connectors;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// MCP session affinity: an <c>mcp</c> connector over two replicas of a stateful MCP server, each knowing only the
/// sessions it issued, behind two gateway instances that share one Data Protection key ring and nothing else: a key
/// directory, or the gateway's database. Every request of a session reaches the replica that issued it, whichever
/// gateway it passes.
/// </summary>
public sealed class McpAffinityTests : IAsyncLifetime
{
    private const string Id = "mcp:tools";
    private McpReplica _one = null!;
    private McpReplica _two = null!;
    private readonly DirectoryInfo _keys = Directory.CreateTempSubdirectory("agent33-dp-keys-");

    public async Task InitializeAsync() => (_one, _two) = (await McpReplica.StartAsync(), await McpReplica.StartAsync());

    public async Task DisposeAsync()
    {
        await _one.DisposeAsync();
        await _two.DisposeAsync();
        _keys.Delete(recursive: true);
    }

    /// <summary>A gateway whose key ring is the shared key directory.</summary>
    private GatewayFactory Gateway(bool fastPath, params McpReplica[] replicas) => Gateway(fastPath, database: null, replicas);

    /// <summary>A gateway whose key ring is in <paramref name="database"/> (its gateway database, no key directory) when given, else the key directory.</summary>
    private GatewayFactory Gateway(bool fastPath, PostgresFixture? database, McpReplica[] replicas, params (string Key, string Value)[] more) => new(
    [
        .. GatewayFactory.Connector(0, Id, $"{replicas[0].Address}/mcp", kind: "mcp",
            more: [.. replicas.Skip(1).Select((r, i) => ($"Destinations:{i}", $"{r.Address}/mcp"))]),
        database is null ? ("Gateway:DataProtectionKeys", _keys.FullName) : ("ConnectionStrings:gateway", database.ConnectionString),
        ("Gateway:FastPath", fastPath ? "true" : "false"),
        .. more,
    ]);

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)] // the key ring in the gateway's database, no directory: as the Kubernetes manifests deploy it
    public async Task A_session_begun_on_one_gateway_reaches_the_replica_that_issued_it_through_another(bool fastPath, bool keysInDatabase)
    {
        var database = keysInDatabase ? new PostgresFixture() : null;
        if (database is not null)
        {
            await database.InitializeAsync();
        }
        try
        {
            await SessionThroughTwoGatewaysAsync(fastPath, database);
        }
        finally
        {
            if (database is not null)
            {
                await database.DisposeAsync();
            }
        }
        Assert.Equal(keysInDatabase, !_keys.EnumerateFiles().Any()); // the directory is used only when no database is
    }

    private async Task SessionThroughTwoGatewaysAsync(bool fastPath, PostgresFixture? database)
    {
        await using var a = Gateway(fastPath, database, [_one, _two]);
        a.CreateClient().Dispose(); // A starts first and writes the shared key ring
        await using var b = Gateway(fastPath, database, [_one, _two]);
        var doors = new Switch(a.Server.CreateHandler(), b.Server.CreateHandler());
        var client = await new HttpClient(doors) { BaseAddress = a.Server.BaseAddress }.ConnectMcpAsync($"/connectors/{Id}");
        var session = client.SessionId;

        doors.UseB = true; // every later request of the session passes gateway B, which never saw it begin
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(["delete_records", "search_docs", "slow_report"], (await client.ListToolsAsync()).Select(t => t.Name).Order());
            var found = await client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = $"q{i}" });
            Assert.NotEqual(true, found.IsError);
        }
        await client.DisposeAsync(); // ends the session: a DELETE, through B

        var (issuer, other) = _one.Issued.IsEmpty ? (_two, _one) : (_one, _two);
        var upstreamId = Assert.Single(issuer.Issued);
        Assert.NotNull(session);
        Assert.NotEqual(upstreamId, session); // the caller holds the gateway's id, never the server's
        // (The client's first request, before it has a session, goes wherever load balancing sends it.)
        Assert.DoesNotContain(other.Requests, r => r.SessionId is not null); // nothing of the session was placed elsewhere
        var pinned = issuer.Requests.Where(r => r.SessionId is not null).ToList();
        Assert.True(pinned.Count >= 9, $"{pinned.Count} requests of the session reached the replica that issued it");
        Assert.All(pinned, r => Assert.Equal(upstreamId, r.SessionId)); // the server always gets its own id back
        await Eventually.WaitUntilAsync(() => issuer.Requests.Any(r => r is { Method: "DELETE", SessionId: not null }), "the session's DELETE");
        var monitoring = b.CreateClient(TestKeys.Reader);
        await Eventually.WaitUntilAsync(async () => (await monitoring.GetFromJsonAsync<JsonElement>($"/v1/connectors/{Id}")).GetProperty("metrics") is var m
            && m.GetProperty("total_calls").GetInt64() + m.GetProperty("client_cancelled").GetInt64() >= 8, // a client may close an answer's stream once it has its result
            "gateway B to count the session's calls", seconds: 10);
    }

    [Fact]
    public async Task Without_a_key_directory_the_key_ring_is_kept_in_the_gateway_database_and_seals_the_session_ids()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            var reads = new CountingKeyReads();
            await using var gateway = Gateway(fastPath: true, database, [_one, _two]);
            gateway.ConfigureServices = services => services.PostConfigure<KeyManagementOptions>(options => options.XmlRepository = reads.Wrap(options.XmlRepository!));
            var caller = gateway.CreateClient(TestKeys.Writer);
            var (token, _) = await InitializeAsync(caller);

            var (keyId, xml) = Assert.Single(await KeysInDatabaseAsync(database));
            Assert.Contains($"<key id=\"{keyId}\"", xml, StringComparison.Ordinal);
            Assert.Equal(keyId, KeyIdOf(token)); // the caller's id is sealed with the key in the database
            Assert.Empty(_keys.EnumerateFiles());

            // The key ring was read at start (on an empty table: read, write the first key, read again); sealing and
            // opening ids use the cached ring, never the database.
            var atStart = reads.Count;
            Assert.InRange(atStart, 1, 2);
            for (var i = 0; i < 5; i++)
            {
                using var listed = await caller.PostMcpAsync($"/connectors/{Id}", ListTools, token);
                Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
                _ = await InitializeAsync(caller);
            }
            Assert.Equal(atStart, reads.Count);
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_key_directory_set_beside_the_gateway_database_overrides_it()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            await using var gateway = Gateway(fastPath: true, database, [_one, _two], ("Gateway:DataProtectionKeys", _keys.FullName));
            var (token, _) = await InitializeAsync(gateway.CreateClient(TestKeys.Writer));

            var file = Assert.Single(_keys.EnumerateFiles());
            Assert.Equal($"key-{KeyIdOf(token)}.xml", file.Name);
            Assert.Empty(await KeysInDatabaseAsync(database)); // the table exists (migrated) and holds nothing
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    /// <summary>The Data Protection keys in the gateway's database: each key's id (from its friendly name) and XML.</summary>
    private static async Task<List<(Guid Id, string Xml)>> KeysInDatabaseAsync(PostgresFixture database)
    {
        await using var connection = new Npgsql.NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT friendly_name, xml FROM data_protection_keys", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var keys = new List<(Guid, string)>();
        while (await reader.ReadAsync())
        {
            var name = reader.GetString(0);
            Assert.StartsWith("key-", name, StringComparison.Ordinal);
            keys.Add((Guid.Parse(name["key-".Length..]), reader.GetString(1)));
        }
        return keys;
    }

    /// <summary>Counts the reads of the Data Protection key ring's store.</summary>
    private sealed class CountingKeyReads
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public IXmlRepository Wrap(IXmlRepository inner) => new Counting(inner, this);

        private sealed class Counting(IXmlRepository inner, CountingKeyReads reads) : IXmlRepository
        {
            public IReadOnlyCollection<System.Xml.Linq.XElement> GetAllElements()
            {
                Interlocked.Increment(ref reads._count);
                return inner.GetAllElements();
            }

            public void StoreElement(System.Xml.Linq.XElement element, string friendlyName) => inner.StoreElement(element, friendlyName);
        }
    }

    /// <summary>The id of the key that sealed a gateway session id: a Data Protection payload starts with a 4-byte magic header, then the key's id.</summary>
    internal static Guid KeyIdOf(string token) => new(System.Buffers.Text.Base64Url.DecodeFromChars(token).AsSpan(4, 16));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_forged_or_tampered_session_id_is_404_reaches_no_replica_and_leaves_the_circuit_alone(bool fastPath)
    {
        await using var gateway = Gateway(fastPath, _one, _two);
        var caller = gateway.CreateClient(TestKeys.Writer);
        var (token, issuer) = await InitializeAsync(caller);
        var upstreamId = Assert.Single(issuer.Issued);
        var tampered = token[..(token.Length / 2)] + (token[token.Length / 2] == 'A' ? 'B' : 'A') + token[(token.Length / 2 + 1)..];
        string[] forgeries = ["forged", Convert.ToBase64String(new byte[96]).TrimEnd('=').Replace('+', '-').Replace('/', '_'), tampered, upstreamId];
        var hits = _one.Requests.Count + _two.Requests.Count;

        foreach (var forged in forgeries)
        {
            using var answer = await caller.PostMcpAsync($"/connectors/{Id}", ListTools, forged);
            Assert.True(answer.StatusCode == HttpStatusCode.NotFound, $"{forged}: {answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
            Assert.Equal("session_not_found", await answer.ProblemCodeAsync());
        }

        Assert.Equal(hits, _one.Requests.Count + _two.Requests.Count); // answered by the gateway: no replica was asked
        var connector = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>($"/v1/connectors/{Id}");
        Assert.Equal("closed", connector.GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(0, connector.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32());
        Assert.Equal(forgeries.Length, connector.GetProperty("metrics").GetProperty("caller_errors").GetInt64());
        Assert.Equal(forgeries.Length, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", Id), ("outcome", "caller_error")));
        using var genuine = await caller.PostMcpAsync($"/connectors/{Id}", ListTools, token);
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
    }

    [Fact]
    public async Task A_session_whose_destination_was_removed_is_404_on_a_gateway_without_it()
    {
        await using var before = Gateway(fastPath: true, _one, _two);
        var caller = before.CreateClient(TestKeys.Writer);
        string? token = null;
        for (var i = 0; i < 30 && token is null; i++)
        {
            // Load balancing places each new session; one on replica one is the one to strand.
            var (issued, issuer) = await InitializeAsync(caller);
            token = issuer == _one ? issued : null;
        }
        Assert.NotNull(token);
        await using var after = Gateway(fastPath: true, _two); // replica one left the connector
        var hits = _two.Requests.Count;

        using var stranded = await after.CreateClient(TestKeys.Writer).PostMcpAsync($"/connectors/{Id}", ListTools, token);
        Assert.Equal(HttpStatusCode.NotFound, stranded.StatusCode);
        Assert.Equal("session_not_found", await stranded.ProblemCodeAsync());
        Assert.Equal(hits, _two.Requests.Count); // never sent to a replica that does not know the session
        var connector = await after.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>($"/v1/connectors/{Id}");
        Assert.Equal(0, connector.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32());
        using var still = await caller.PostMcpAsync($"/connectors/{Id}", ListTools, token); // where replica one is still configured, the session lives
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    [Fact]
    public async Task A_single_destination_connector_keeps_its_sessions_working_with_the_gateways_id()
    {
        await using var gateway = Gateway(fastPath: true, _one);
        await using var client = await gateway.CreateClient().ConnectMcpAsync($"/connectors/{Id}");

        Assert.NotEqual(true, (await client.CallToolAsync("search_docs", new Dictionary<string, object?> { ["query"] = "x" })).IsError);
        Assert.NotEqual(Assert.Single(_one.Issued), client.SessionId);
        Assert.All(_one.Requests.Where(r => r.SessionId is not null), r => Assert.Equal(_one.Issued.Single(), r.SessionId));
    }

    [Fact]
    public Task An_mcp_session_begun_on_one_gateway_goes_on_through_another_for_the_key_that_began_it_only() => WithDatabaseAsync(async database =>
    {
        await using var a = Gateway(fastPath: true, database, [_one]);
        a.CreateClient().Dispose(); // A applies the migrations first
        await using var b = Gateway(fastPath: true, database, [_one]);
        var doors = new Switch(a.Server.CreateHandler(), b.Server.CreateHandler());
        var client = await new HttpClient(doors) { BaseAddress = a.Server.BaseAddress }.ConnectMcpAsync(McpAggregate.Path);
        var session = Assert.IsType<string>(client.SessionId);
        Assert.Contains($"{Id}__search_docs", (await client.ListToolsAsync()).Select(t => t.Name));

        // Another key presenting the session at B, which does not hold it: not found, and nothing taken over.
        using var stranger = b.CreateClient(TestKeys.OtherWriter);
        using (var refused = await stranger.PostMcpAsync(McpAggregate.Path, ListTools, session))
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        doors.UseB = true; // every later request of the session passes gateway B, which never saw it begin
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains($"{Id}__search_docs", (await client.ListToolsAsync()).Select(t => t.Name));
            var found = await client.CallToolAsync($"{Id}__search_docs", new Dictionary<string, object?> { ["query"] = $"q{i}" });
            Assert.NotEqual(true, found.IsError);
        }
        Assert.Equal(session, client.SessionId);
        await client.DisposeAsync();
    });

    /// <summary>Runs <paramref name="test"/> with a fresh database of its own.</summary>
    private static async Task WithDatabaseAsync(Func<PostgresFixture, Task> test)
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            await test(database);
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    [Fact]
    public Task An_mcp_session_begun_more_than_a_day_ago_does_not_move_and_its_record_is_deleted() => WithDatabaseAsync(async database =>
    {
        await using var a = Gateway(fastPath: true, database, [_one]);
        var client = await new HttpClient(a.Server.CreateHandler()) { BaseAddress = a.Server.BaseAddress }.ConnectMcpAsync(McpAggregate.Path);
        await Eventually.WaitUntilAsync(async () => await SessionRecordsAsync(database) == 1, "the session's record");

        // A day and an hour later at B: the session is too old to move, and B's hourly sweep deletes its record.
        await using var b = Gateway(fastPath: true, database, [_one]);
        using var atB = b.CreateClient(TestKeys.Writer);
        b.Clock.Advance(TimeSpan.FromHours(25));
        using (var answer = await atB.PostMcpAsync(McpAggregate.Path, ListTools, client.SessionId))
        {
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        }
        await Eventually.WaitUntilAsync(async () => await SessionRecordsAsync(database) == 0, "B's sweep to delete the old session's record");
        Assert.NotEmpty(await client.ListToolsAsync()); // where it began, the session goes on
        await client.DisposeAsync();
    });

    [Fact]
    public Task Oversized_initialize_parameters_are_not_recorded_and_that_session_stays_on_its_gateway() => WithDatabaseAsync(async database =>
    {
        await using var a = Gateway(fastPath: true, database, [_one]);
        using var caller = a.CreateClient(TestKeys.Writer);
        var padding = new string('x', McpSessionMigration.MaxRecordedBytes);
        var oversized = Initialize.Replace("\"affinity-test\"", $"\"{padding}\"", StringComparison.Ordinal);
        using (var answer = await caller.PostMcpAsync(McpAggregate.Path, oversized, null))
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode); // the session works where it began
        }
        using (var answer = await caller.PostMcpAsync(McpAggregate.Path, Initialize, null))
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
        // Each initialize records before it answers: the second's record is there, the first's never was.
        Assert.Equal(1, await SessionRecordsAsync(database));
    });

    private static async Task<long> SessionRecordsAsync(PostgresFixture database)
    {
        await using var connection = new Npgsql.NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM mcp_sessions", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Without_a_database_an_mcp_session_stays_on_the_gateway_that_began_it()
    {
        await using var a = Gateway(fastPath: true, [_one]);
        await using var b = Gateway(fastPath: true, [_one]);
        var caller = new HttpClient(a.Server.CreateHandler()) { BaseAddress = a.Server.BaseAddress };
        var client = await caller.ConnectMcpAsync(McpAggregate.Path);
        using var atB = b.CreateClient(TestKeys.Writer);
        using var answer = await atB.PostMcpAsync(McpAggregate.Path, ListTools, client.SessionId);
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode); // the client starts a new session, as the MCP spec says
        await client.DisposeAsync();
    }

    private const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"affinity-test","version":"1"}}}""";
    private const string ListTools = """{"jsonrpc":"2.0","id":2,"method":"tools/list"}""";

    /// <summary>A new session through the gateway: the id the caller got, and the replica that issued it.</summary>
    private async Task<(string Token, McpReplica Issuer)> InitializeAsync(HttpClient caller)
    {
        var (one, two) = (_one.Issued.Count, _two.Issued.Count);
        using var answer = await caller.PostMcpAsync($"/connectors/{Id}", Initialize, null);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var token = Assert.Single(answer.Headers.GetValues("Mcp-Session-Id"));
        return (token, _one.Issued.Count > one ? _one : _two.Issued.Count > two ? _two : throw new InvalidOperationException("no replica issued a session"));
    }

    /// <summary>One client, two gateways: each request goes to the gateway chosen at the time.</summary>
    private sealed class Switch(HttpMessageHandler a, HttpMessageHandler b) : HttpMessageHandler
    {
        private readonly HttpMessageInvoker _a = new(a), _b = new(b);
        public volatile bool UseB;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            (UseB ? _b : _a).SendAsync(request, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            _a.Dispose();
            _b.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// One replica of a stateful MCP server (the official SDK's) on loopback: issues its own session ids, answers 404
/// to any other, and logs every request it gets with the session id it carried.
/// </summary>
internal sealed class McpReplica : IAsyncDisposable
{
    private WebApplication _app = null!;

    public string Address { get; private set; } = "";
    public ConcurrentQueue<(string Method, string? SessionId)> Requests { get; } = new();
    public ConcurrentBag<string> Issued { get; } = [];

    public static async Task<McpReplica> StartAsync()
    {
        var replica = new McpReplica();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = false).WithTools<UpstreamTools>(); // sessions: stateless is the default
        var app = builder.Build();
        app.Use((context, next) =>
        {
            var session = context.Request.Headers["Mcp-Session-Id"];
            replica.Requests.Enqueue((context.Request.Method, session.Count > 0 ? session.ToString() : null));
            context.Response.OnStarting(() =>
            {
                if (session.Count == 0 && context.Response.Headers["Mcp-Session-Id"] is { Count: 1 } issued)
                {
                    replica.Issued.Add(issued.ToString());
                }
                return Task.CompletedTask;
            });
            return next();
        });
        app.MapMcp("/mcp");
        await app.StartAsync();
        replica._app = app;
        replica.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return replica;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
