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
            ("POST", $"{b}/signals"), ("GET", $"{b}/signals"), ("GET", $"{b}/summary"), ("GET", $"{b}/trends"), ("GET", $"{b}/calibration"),
            ("GET", $"{b}/intakes"), ("POST", $"{b}/backups"), ("GET", $"{b}/backups"), ("GET", $"{b}/backups/{{backupId}}"),
            ("DELETE", $"{b}/backups/{{backupId}}"), ("POST", $"{b}/restore"), ("POST", $"{b}/migrations/import"),
            ("GET", $"{b}/migrations/status"), ("GET", $"{b}/quarantine"));
    }
}
