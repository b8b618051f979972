using Npgsql;
using Xunit;

namespace Agent33.Testing;

/// <summary>
/// A fresh, empty database on the shared test server for one test class (<c>IClassFixture</c>),
/// dropped afterwards, so test classes run in parallel without seeing each other's rows.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private string? _adminConnectionString;

    public string DatabaseName { get; } = $"t_{Guid.NewGuid():N}";

    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _adminConnectionString = await PostgresServer.GetAdminConnectionStringAsync();
        await ExecuteAsync($"CREATE DATABASE \"{DatabaseName}\"");
        ConnectionString = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = DatabaseName }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)");
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
