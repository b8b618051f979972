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
