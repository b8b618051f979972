using Agent33.Learning.LegacyMigration;
using Agent33.Testing;
using Npgsql;

namespace Agent33.Learning.Tests;

/// <summary>The operator command line against real Postgres: exit codes, idempotence, nothing changed on bad input.</summary>
public sealed class CommandLineTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private Task<int> RunAsync(params string[] args) =>
        LearningCommandLine.RunAsync([.. args, $"--ConnectionStrings:learning={postgres.ConnectionString}", "--Learning:MaxSignals=100000"]);

    private async Task<long> CountAsync()
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM learning_signals", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Migrate_backup_restore_and_status_with_exit_codes()
    {
        Assert.Equal(0, await RunAsync("migrate", ReferenceFixtures.PathOf("learning", "legacy-state.sqlite3")));
        Assert.Equal(100, await CountAsync());
        Assert.Equal(0, await RunAsync("migrate", ReferenceFixtures.PathOf("learning", "legacy-state.json"), "--backup-first")); // skipped: not empty
        Assert.Equal(100, await CountAsync());

        Assert.Equal(1, await RunAsync("restore", ReferenceFixtures.PathOf("learning", "bad-checksum.json")));
        Assert.Equal(1, await RunAsync("migrate", ReferenceFixtures.PathOf("learning", "corrupt-payload.sqlite3"), "--force"));
        Assert.Equal(100, await CountAsync());

        Assert.Equal(0, await RunAsync("restore", ReferenceFixtures.PathOf("learning", "backup-envelope.json")));
        var output = Path.Combine(Path.GetTempPath(), $"agent33-cli-{Guid.NewGuid():N}.json");
        try
        {
            Assert.Equal(0, await RunAsync("backup", "--output", output));
            Assert.Contains("9be478b9b06314b41eb2270698b575e4f5b9632b23df1cd5829d91d7807b51b5", await File.ReadAllTextAsync(output));
        }
        finally
        {
            File.Delete(output);
        }
        Assert.Equal(0, await RunAsync("status"));
        Assert.Equal(2, await RunAsync("restore"));
    }
}

public sealed class ImportOnStartTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task A_legacy_store_is_imported_at_start_only_into_an_empty_database()
    {
        var settings = new (string, string)[] { ("Learning:Migration:ImportOnStart", ReferenceFixtures.PathOf("learning", "legacy-state.json")), ("Learning:MaxSignals", "100000") };
        await using (var first = new LearningServiceFactory(postgres, settings))
        {
            var summary = await first.WithStoreAsync(store => store.SummarizeAsync(Learning.Domain.LearningStore.AllTenants, 1000, null, CancellationToken.None));
            Assert.Equal(100, summary.TotalSignals);
            var client = first.CreateClient(TestKeys.Admin);
            await client.PostAsync("/v1/improvements/learning/signals",
                new StringContent("""{"summary": "Recorded after the start-up import"}""", System.Text.Encoding.UTF8, "application/json"));
        }
        await using var second = new LearningServiceFactory(postgres, settings);
        var again = await second.WithStoreAsync(store => store.SummarizeAsync(Learning.Domain.LearningStore.AllTenants, 1000, null, CancellationToken.None));
        Assert.Equal(101, again.TotalSignals); // not re-imported over existing data
    }
}
