using System.Text.Json;
using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Agent33.Learning.Tests;

public sealed class ServiceBootTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Boots_applies_migrations_and_reports_postgres_in_health()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b
            .UseTestKeys()
            .UseSetting("ConnectionStrings:learning", postgres.ConnectionString));
        var client = factory.CreateClient();

        await ServiceBasics.AssertBootsAsync(client, "/v1/improvements/learning/signals");

        using var health = JsonDocument.Parse(await client.GetStringAsync("/health"));
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("LearningDbContext").GetProperty("status").GetString());

        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM \"__EFMigrationsHistory\"", connection);
        Assert.True((long)(await command.ExecuteScalarAsync())! >= 1);
    }
}

/// <summary>The learning service's Prometheus text passes Prometheus' own lint.</summary>
public sealed class MetricsLintTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [PromtoolFact]
    public async Task Metrics_pass_promtool_check_metrics()
    {
        await using var factory = new LearningServiceFactory(postgres, ("Learning:Backups:Schedule", "1.00:00:00"));
        var admin = factory.CreateClient(TestKeys.Admin);
        (await admin.PostAsync("/v1/improvements/learning/signals",
            new StringContent("""{"summary": "A signal before the scrape"}""", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await admin.PostAsync("/v1/improvements/learning/backups", null)).EnsureSuccessStatusCode();

        var metrics = await factory.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("\ndb_client_connections_usage{", metrics); // Npgsql's connection gauge, renamed
        Assert.Contains("\nlearning_backup_age_seconds{", metrics);
        Assert.Contains("\nlearning_database_unavailable_total{", metrics);
        await Promtool.AssertLintCleanAsync(metrics);
    }
}

public sealed class OpenApiTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task The_openapi_document_lists_every_contract_route()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b
            .UseTestKeys()
            .UseSetting("ConnectionStrings:learning", postgres.ConnectionString));
        const string b = "/v1/improvements/learning";
        await OpenApiContract.AssertRoutesAsync(factory.CreateClient(),
            ("POST", $"{b}/signals"), ("GET", $"{b}/signals"), ("GET", $"{b}/signals/export"), ("GET", $"{b}/summary"), ("GET", $"{b}/trends"), ("GET", $"{b}/calibration"),
            ("GET", $"{b}/intakes"), ("POST", $"{b}/backups"), ("GET", $"{b}/backups"), ("GET", $"{b}/backups/{{backupId}}"),
            ("DELETE", $"{b}/backups/{{backupId}}"), ("POST", $"{b}/restore"), ("POST", $"{b}/migrations/import"),
            ("GET", $"{b}/migrations/status"), ("GET", $"{b}/quarantine"), ("DELETE", $"{b}/quarantine/{{id}}"));
    }
}

/// <summary>
/// Found by the adversarial probe: the anonymous /metrics named the database's host, port, user and name (Npgsql's
/// pool name is the connection string, its operation metrics carry the server's address and port, and the DNS
/// lookup metrics the host name looked up).
/// </summary>
public sealed class MetricsPrivacyTests : IAsyncLifetime
{
    private readonly string _name = $"m_{Guid.NewGuid():N}"[..20];
    private string _admin = "";
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _admin = await PostgresServer.GetAdminConnectionStringAsync();
        await ExecuteAsync($"CREATE ROLE \"{_name}u\" LOGIN PASSWORD 'metrics-secret-0b7f'");
        await ExecuteAsync($"CREATE DATABASE \"{_name}d\" OWNER \"{_name}u\"");
        // The host by a name no other traffic of the test process uses: /metrics also holds that process's own HTTP
        // client metrics (other tests call services on 127.0.0.1), which name their servers.
        _connectionString = new NpgsqlConnectionStringBuilder(_admin) { Host = "localhost", Database = $"{_name}d", Username = $"{_name}u", Password = "metrics-secret-0b7f" }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync($"DROP DATABASE IF EXISTS \"{_name}d\" WITH (FORCE)");
        await ExecuteAsync($"DROP ROLE IF EXISTS \"{_name}u\"");
    }

    [Fact]
    public async Task Metrics_keep_the_database_figures_without_naming_the_database()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b
            .UseTestKeys()
            .UseSetting("ConnectionStrings:learning", _connectionString));
        var admin = factory.CreateClient(TestKeys.Admin);
        (await admin.PostAsync("/v1/improvements/learning/signals",
            new StringContent("""{"summary": "Something for the database metrics to count"}""", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await admin.GetAsync("/v1/improvements/learning/summary")).EnsureSuccessStatusCode();

        var metrics = await factory.CreateClient().GetStringAsync("/metrics");

        Assert.Contains("db_client_operation_duration_seconds_count", metrics);
        Assert.Contains("db_client_connections_usage", metrics); // db.client.connection.count, renamed for promtool
        Assert.Contains("dns_lookup_duration_seconds_count", metrics); // the database's host was looked up, and counted
        var connection = new NpgsqlConnectionStringBuilder(_connectionString);
        foreach (var secret in new[] { connection.Host!, $"\"{connection.Port}\"", connection.Username!, connection.Database!, "Host=", "Port=", "Database=" })
        {
            Assert.DoesNotContain(secret, metrics);
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
