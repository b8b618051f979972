using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The gateway as several processes, as deployed with replicas: each has its own circuit breakers, and what they
/// report goes through the one learning service, where one connector's outage is one incident.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class ReplicaTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_circuit_opening_on_three_gateway_replicas_is_one_incident_signal_counting_each_replica()
    {
        const string connector = "tool:failing";
        var database = new PostgresFixture();
        await database.InitializeAsync();
        await using var upstream = await Upstream.StartAsync();
        ServiceProcess? learning = null;
        var gateways = Array.Empty<ServiceProcess>();
        try
        {
            learning = await ServiceProcess.StartAsync("Agent33.Learning", new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ConnectionStrings:learning"] = database.ConnectionString,
                ["RateLimiting:WritesPerSecond"] = "0",
            });
            var settings = new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ServiceApiKey"] = TestKeys.Service,
                ["services:learning-service:http:0"] = learning.BaseAddress.ToString().TrimEnd('/'),
                ["Connectors:0:Id"] = connector, ["Connectors:0:Kind"] = "http", ["Connectors:0:Destination"] = upstream.Address,
                ["Connectors:0:RetryAttempts"] = "0",
                ["Connectors:0:Circuit:FailureThreshold"] = "3",
                ["Connectors:0:Circuit:RecoveryTimeoutSeconds"] = "300", // open for the whole test: one opening per replica
            };
            gateways = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => ServiceProcess.StartAsync("Agent33.Gateway", settings)));

            // Each replica's own breaker sees three failures and opens; a fourth call finds it open.
            await Task.WhenAll(gateways.Select(async gateway =>
            {
                using var client = gateway.CreateClient(TestKeys.Writer);
                for (var i = 0; i < 3; i++)
                {
                    Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync($"/connectors/{connector}/status/500")).StatusCode);
                }
                using var open = await client.GetAsync($"/connectors/{connector}/status/500");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, open.StatusCode);
                Assert.Equal("circuit_open", await open.ProblemCodeAsync());
            }));

            // The three incident signals carry the same fingerprint (tenant, type, summary, source: nothing of the
            // replica or the time), so the learning service merges them into one.
            await Eventually.WaitUntilAsync(async () => (await IncidentsAsync(database.ConnectionString)).Sum(i => i.Count) >= 3,
                "the three replicas' incident signals", seconds: 30);
            await Task.Delay(TimeSpan.FromSeconds(1)); // a fourth, wrongly sent, would arrive by now
            var incidents = await IncidentsAsync(database.ConnectionString);
            output.WriteLine(string.Join("\n", incidents));
            var incident = Assert.Single(incidents);
            Assert.Equal(("default", $"Connector {connector} circuit opened", "connector-gateway", "high", 3),
                (incident.Tenant, incident.Summary, incident.Source, incident.Severity, incident.Count));
            Assert.Equal(9, upstream.Hits); // each replica reached the upstream three times, then its open circuit kept the fourth call
        }
        finally
        {
            Array.ForEach(gateways, g => g.Dispose());
            learning?.Dispose();
            await database.DisposeAsync();
        }
    }

    /// <summary>
    /// The Data Protection key ring in the gateway's database, as deployed (no shared directory): replicas starting
    /// together on an empty database write one key between them (the first to take the migrations lock writes it, the
    /// others read it), so each opens the MCP session ids the others seal from the first request on.
    /// </summary>
    [Fact]
    public async Task Gateway_replicas_starting_together_on_an_empty_database_write_one_key_and_open_each_others_mcp_session_ids()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        await using var one = await McpReplica.StartAsync();
        await using var two = await McpReplica.StartAsync();
        var gateways = Array.Empty<ServiceProcess>();
        try
        {
            var settings = new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ConnectionStrings:gateway"] = database.ConnectionString,
                ["services:learning-service:http:0"] = "http://127.0.0.1:9",
                ["Connectors:0:Id"] = "mcp:tools", ["Connectors:0:Kind"] = "mcp", ["Connectors:0:Destination"] = $"{one.Address}/mcp",
                ["Connectors:0:Destinations:0"] = $"{two.Address}/mcp",
            };
            gateways = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => ServiceProcess.StartAsync("Agent33.Gateway", settings)));

            await using (var connection = new NpgsqlConnection(database.ConnectionString))
            {
                await connection.OpenAsync();
                await using var keys = new NpgsqlCommand("SELECT count(*) FROM data_protection_keys", connection);
                Assert.Equal(1L, await keys.ExecuteScalarAsync());
            }
            foreach (var (begin, other) in new[] { (gateways[0], gateways[1]), (gateways[1], gateways[0]) })
            {
                using var beginning = begin.CreateClient(TestKeys.Writer);
                using var initialized = await beginning.PostMcpAsync("/connectors/mcp:tools", """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"replica-test","version":"1"}}}""", null);
                Assert.Equal(HttpStatusCode.OK, initialized.StatusCode);
                var token = Assert.Single(initialized.Headers.GetValues("Mcp-Session-Id"));

                using var continuing = other.CreateClient(TestKeys.Writer);
                using var listed = await continuing.PostMcpAsync("/connectors/mcp:tools", """{"jsonrpc":"2.0","id":2,"method":"tools/list"}""", token);
                Assert.True(listed.StatusCode == HttpStatusCode.OK, $"{listed.StatusCode}: {await listed.Content.ReadAsStringAsync()}");
            }
        }
        finally
        {
            Array.ForEach(gateways, g => g.Dispose());
            await database.DisposeAsync();
        }
    }

    private static async Task<List<(string Tenant, string Summary, string Source, string Severity, int Count)>> IncidentsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand(
            "SELECT tenant_id, summary, source, severity, occurrence_count FROM learning_signals WHERE signal_type = 'incident'", connection);
        await using var reader = await query.ExecuteReaderAsync();
        var rows = new List<(string, string, string, string, int)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4)));
        }
        return rows;
    }
}
