using System.Net;
using System.Text.Json;
using Agent33.AppHost;
using Npgsql;
using Xunit.Abstractions;

namespace Agent33.IntegrationTests;

[Collection(AppHostCollection.Name)]
public sealed class WholeAppTests(AppHostFixture app, ITestOutputHelper output)
{
    [Theory]
    [InlineData(ResourceNames.Learning)]
    [InlineData(ResourceNames.Routing)]
    [InlineData(ResourceNames.Gateway)]
    public async Task Every_service_is_healthy_and_requires_a_key(string resource)
    {
        output.WriteLine($"AppHost healthy after {app.TimeToHealthy.TotalSeconds:F1} s");

        var anonymous = app.CreateClient(resource, key: null);
        using var health = JsonDocument.Parse(await anonymous.GetStringAsync("/health"));
        Assert.Equal("healthy", health.RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/alive")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/anything")).StatusCode);
    }

    /// <summary>
    /// The fixture's run is a first run (a new data folder): the learning database exists before the service
    /// connects, nothing logs an error, SQL commands are not logged, and no certificate warning (the services
    /// serve http; the machine has no trusted development certificate).
    /// </summary>
    [Fact]
    public async Task A_first_run_is_quiet()
    {
        Assert.DoesNotContain(app.AppHostLog, l => l.Contains("certificate", StringComparison.OrdinalIgnoreCase));

        var learning = await app.ConsoleLogsAsync(ResourceNames.Learning);
        var postgres = await app.ConsoleLogsAsync(ResourceNames.Postgres);
        output.WriteLine(string.Join('\n', learning));
        output.WriteLine(string.Join('\n', postgres));
        Assert.Contains(learning, l => l.Contains("Learning database is up to date", StringComparison.Ordinal)); // the log was read
        Assert.DoesNotContain(learning, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
        Assert.DoesNotContain(learning, l => l.Contains("Executed DbCommand", StringComparison.Ordinal));
        Assert.DoesNotContain(postgres.Concat(learning), l => l.Contains("does not exist", StringComparison.Ordinal));
        foreach (var service in (string[])[ResourceNames.Routing, ResourceNames.Gateway])
        {
            var log = await app.ConsoleLogsAsync(service);
            Assert.DoesNotContain(log, l => l.StartsWith("fail:", StringComparison.Ordinal));
            Assert.DoesNotContain(log, l => l.Contains("Executed DbCommand", StringComparison.Ordinal)); // the gateway's spend store
        }
    }

    [Fact]
    public async Task Learning_service_reached_postgres_and_applied_its_migrations()
    {
        using var health = JsonDocument.Parse(await app.CreateClient(ResourceNames.Learning, key: null).GetStringAsync("/health"));
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("LearningDbContext").GetProperty("status").GetString());

        var connectionString = await app.App.GetConnectionStringAsync(ResourceNames.LearningDatabase);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM \"__EFMigrationsHistory\"", connection);
        Assert.True((long)(await command.ExecuteScalarAsync())! >= 1);
    }
}
