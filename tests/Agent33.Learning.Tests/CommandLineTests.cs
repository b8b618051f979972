using Agent33.Learning.LegacyMigration;
using Agent33.Testing;
using Npgsql;

namespace Agent33.Learning.Tests;

/// <summary>The operator command line against real Postgres: exit codes, idempotence, nothing changed on bad input.</summary>
[Collection(OneConsole)]
public sealed class CommandLineTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    /// <summary>The command line draws on the one console (Spectre.Console allows one live display at a time): its tests take turns.</summary>
    public const string OneConsole = "The command line's console";

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

/// <summary>The command line's options as the runbook writes them, on a database of their own (these start from an empty one).</summary>
[Collection(CommandLineTests.OneConsole)]
public sealed class CommandLineOptionsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private Task<int> RunAsync(params string[] args) =>
        LearningCommandLine.RunAsync([.. args, $"--ConnectionStrings:learning={postgres.ConnectionString}", "--Learning:MaxSignals=100000"]);

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Found replaying the runbook: "migrate FILE --on-corruption reject" read "reject" as a second file (usage, exit 2),
    /// and --backup-first into an empty database took no backup, where the reference always backs up first.
    /// </summary>
    [Fact]
    public async Task Migrate_reads_valued_options_wherever_they_stand_and_always_backs_up_first()
    {
        var legacy = ReferenceFixtures.PathOf("learning", "legacy-state.json");

        Assert.Equal(0, await RunAsync("migrate", legacy, "--on-corruption", "reject", "--backup-first"));
        Assert.Equal(100, await ScalarAsync("SELECT count(*) FROM learning_signals"));
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM backups"));
        Assert.Equal(0, await ScalarAsync("SELECT signal_count FROM backups")); // the empty state it replaced, as the rollback point

        var damaged = Path.Combine(Path.GetTempPath(), $"agent33-damaged-{Guid.NewGuid():N}.json");
        var state = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(legacy))!;
        state["signals"]![0]!.AsObject().Remove("summary");
        await File.WriteAllTextAsync(damaged, state.ToJsonString());
        try
        {
            Assert.Equal(1, await RunAsync("migrate", "--on-corruption", "reject", damaged, "--force"));
            Assert.Equal(100, await ScalarAsync("SELECT count(*) FROM learning_signals"));
            Assert.Equal(0, await RunAsync("migrate", "--on-corruption=quarantine", "--force", damaged));
            Assert.Equal(99, await ScalarAsync("SELECT count(*) FROM learning_signals"));
            Assert.Equal(2, await RunAsync("migrate", damaged, "--on-corruption", "sometimes"));
        }
        finally
        {
            File.Delete(damaged);
        }
    }
}

/// <summary><c>export</c> writes what <c>GET /signals/export</c> streams: NDJSON, a line per signal, filtered by tenant and time.</summary>
[Collection(CommandLineTests.OneConsole)]
public sealed class CommandLineExportTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private Task<int> RunAsync(params string[] args) =>
        LearningCommandLine.RunAsync([.. args, $"--ConnectionStrings:learning={postgres.ConnectionString}", "--Learning:MaxSignals=100000"]);

    [Fact]
    public async Task Export_writes_every_signal_as_ndjson_and_filters_by_tenant_and_time()
    {
        Assert.Equal(0, await RunAsync("migrate", ReferenceFixtures.PathOf("learning", "legacy-state.json")));
        var output = Path.Combine(Path.GetTempPath(), $"agent33-export-{Guid.NewGuid():N}.ndjson");
        try
        {
            Assert.Equal(0, await RunAsync("export", "--output", output));
            var all = (await File.ReadAllLinesAsync(output)).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(100, all.Count);
            Assert.Equal(100, all.Select(s => s.GetProperty("signal_id").GetString()).Distinct().Count());

            var tenant = all[0].GetProperty("tenant_id").GetString()!;
            var middle = all[50].GetProperty("recorded_at").GetDateTimeOffset();
            Assert.Equal(0, await RunAsync("export", "--output", output, "--tenant", tenant, "--since", middle.ToString("O")));
            var expected = all.Count(s => s.GetProperty("tenant_id").GetString() == tenant && s.GetProperty("recorded_at").GetDateTimeOffset() >= middle);
            Assert.Equal(expected, (await File.ReadAllLinesAsync(output)).Length);
            Assert.InRange(expected, 1, 99);

            Assert.Equal(2, await RunAsync("export", "--output", output, "--since", "last-tuesday"));
        }
        finally
        {
            File.Delete(output);
        }
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
            var summary = await first.WithAsync<Learning.Domain.SignalReports, Learning.Domain.LearningSummary>(reports => reports.SummarizeAsync(Learning.Domain.Tenants.All, 1000, null, CancellationToken.None));
            Assert.Equal(100, summary.TotalSignals);
            var client = first.CreateClient(TestKeys.Admin);
            await client.PostAsync("/v1/improvements/learning/signals",
                new StringContent("""{"summary": "Recorded after the start-up import"}""", System.Text.Encoding.UTF8, "application/json"));
        }
        await using var second = new LearningServiceFactory(postgres, settings);
        var again = await second.WithAsync<Learning.Domain.SignalReports, Learning.Domain.LearningSummary>(reports => reports.SummarizeAsync(Learning.Domain.Tenants.All, 1000, null, CancellationToken.None));
        Assert.Equal(101, again.TotalSignals); // not re-imported over existing data
    }
}
