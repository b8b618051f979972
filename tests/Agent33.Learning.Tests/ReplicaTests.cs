using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Agent33.Learning.Tests;

/// <summary>
/// The learning service as several processes on one Postgres, as it is deployed with replicas: what is coordinated
/// through the database (dedupe locks, the restore's table lock, advisory locks for start-up and background work)
/// holds across processes, not only inside one.
/// </summary>
public sealed class ReplicaTests(ITestOutputHelper output)
{
    private const string Base = "/v1/improvements/learning";

    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    private static Dictionary<string, string> Settings(string connectionString, params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>(TestKeys.Settings())
        {
            ["ConnectionStrings:learning"] = connectionString,
            ["RateLimiting:WritesPerSecond"] = "0",
            // What is proved here is coordination, not retention: restored and imported fixtures are years old.
            ["Learning:RetentionDays"] = "0",
            ["Learning:MaxSignals"] = "100000",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>Starts <paramref name="count"/> replicas at the same moment (one start-up race, as a rollout of a new deployment).</summary>
    private static async Task<ServiceProcess[]> StartReplicasAsync(int count, Dictionary<string, string> settings) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ServiceProcess.StartAsync("Agent33.Learning", settings)));

    private static object Signal(string summary, string source = "replica-test") => new
    {
        signal_type = "incident",
        severity = "high",
        summary,
        details = "Written by a replica test to one of several learning processes sharing a database.",
        source,
    };

    [Fact]
    public async Task Concurrent_duplicates_sent_to_three_replicas_are_one_signal_counting_every_post()
    {
        await using var database = await Database.CreateAsync();
        var replicas = await StartReplicasAsync(3, Settings(database.ConnectionString));
        try
        {
            var clients = replicas.Select(r => r.CreateClient(TestKeys.Writer)).ToArray();
            // Warm each replica's first request (connection pool, JIT), so the posts below arrive together.
            foreach (var client in clients)
            {
                (await client.GetAsync($"{Base}/summary")).EnsureSuccessStatusCode();
            }

            var body = Signal("Replica test duplicate sent to every replica at once");
            var answers = await Task.WhenAll(Enumerable.Range(0, 90).Select(async i =>
            {
                using var response = await clients[i % 3].PostAsJsonAsync($"{Base}/signals", body);
                var json = await response.Content.ReadFromJsonAsync<JsonElement>();
                return (response.StatusCode, Id: json.TryGetProperty("signal_id", out var id) ? id.GetString() : json.ToString());
            }));

            output.WriteLine(string.Join(", ", answers.GroupBy(a => a.StatusCode).Select(g => $"{(int)g.Key} ×{g.Count()}")));
            Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
            Assert.Equal(89, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
            var rows = await database.QueryAsync("SELECT signal_id, occurrence_count FROM learning_signals WHERE tenant_id = 'tenant-a'",
                r => (Id: r.GetString(0), Count: r.GetInt32(1)));
            var row = Assert.Single(rows);
            Assert.Equal(90, row.Count);
            Assert.All(answers, a => Assert.Equal(row.Id, a.Id));
        }
        finally
        {
            Array.ForEach(replicas, r => r.Dispose());
        }
    }

    /// <summary>
    /// All or nothing, across replicas: a restore's commit is one point in the order of commits. Every write that
    /// committed before it is gone (the restore replaced the whole state, its merges included); every write after it
    /// is applied to the restored state, whole. So the signals besides the restored ones are exactly the writes
    /// acknowledged after the restore committed: every write answered before the restore began is gone, every write
    /// sent after it was answered is kept, and in between the kept ones are a suffix of the real-time order (none kept
    /// while one answered before it was sent is gone). A duplicate written throughout is one signal after the
    /// restore, counting exactly the writes answered with it. Writes wait for the swap or answer 503 restore_in_progress.
    /// </summary>
    [Fact]
    public async Task A_restore_on_one_replica_while_two_others_take_writes_leaves_the_restored_state_plus_only_later_writes()
    {
        await using var database = await Database.CreateAsync();
        var replicas = await StartReplicasAsync(3, Settings(database.ConnectionString));
        try
        {
            using var admin = replicas[0].CreateClient(TestKeys.Admin);
            // The restored state: 20,000 signals, large enough that the swap takes a moment while the writers go on.
            await LearningSeed.TopUpSignalsAsync(database.ConnectionString, 20_000);
            using var backup = await admin.PostAsync($"{Base}/backups", null);
            Assert.Equal(HttpStatusCode.Created, backup.StatusCode);
            var backupId = (await backup.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("backup_id").GetString();
            var restoredIds = (await database.QueryAsync("SELECT signal_id FROM learning_signals", r => r.GetString(0))).ToHashSet();
            await database.ExecuteAsync("DELETE FROM learning_signals");

            const string duplicate = "Replica test duplicate written throughout the restore";
            using var writers = new Writers([replicas[1].CreateClient(TestKeys.Writer), replicas[2].CreateClient(TestKeys.Writer)], workers: 4, duplicate);
            await Eventually.WaitUntilAsync(() => writers.Answers.Count(a => a.Status is 200 or 201) >= 200, "200 acknowledged writes before the restore");

            var restoreSent = Clock.Elapsed;
            using var restore = await admin.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
            var restoreAnswered = Clock.Elapsed;
            Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
            await Eventually.WaitUntilAsync(() => writers.Answers.Count(a => a.Status is 200 or 201 && a.Sent > restoreAnswered) >= 200,
                "200 acknowledged writes after the restore");
            var answers = await writers.StopAsync();

            var stored = (await database.QueryAsync("SELECT signal_id, summary, occurrence_count FROM learning_signals",
                r => (Id: r.GetString(0), Summary: r.GetString(1), Count: r.GetInt32(2)))).ToList();
            var during = answers.Where(a => a.Answered > restoreSent && a.Sent < restoreAnswered).ToList();
            output.WriteLine($"restore took {(restoreAnswered - restoreSent).TotalSeconds:F2} s; {answers.Count} answers: " +
                             string.Join(", ", answers.GroupBy(a => $"{a.Status} {a.Code}".Trim()).Select(g => $"{g.Key} ×{g.Count()}")) +
                             $"; {during.Count} overlapped it ({during.Count(a => a.Status == 503)} answered 503), slowest {answers.Max(a => a.Seconds):F2} s");

            // Every answer an acknowledgement, or a 503 restore_in_progress within the bound; never a 500, never a hang.
            Assert.All(answers, a => Assert.True(a.Status is 200 or 201 || (a.Status, a.Code, a.RetryAfter) == (503, "restore_in_progress", true),
                $"{a.Status} {a.Code} (Retry-After: {a.RetryAfter})"));
            Assert.All(answers, a => Assert.True(a.Seconds < 10, $"a write took {a.Seconds:F1} s"));

            // The restored state, whole and unchanged.
            var byId = stored.ToDictionary(s => s.Id);
            Assert.All(restoredIds, id => Assert.True(byId.TryGetValue(id, out var row) && row.Count == 1, $"restored signal {id} missing or changed"));

            // Distinct writes: none answered before the restore began, all sent after it was answered, a suffix in between.
            var distinct = answers.Where(a => a.Summary != duplicate && a.Status is 200 or 201).ToList();
            var kept = stored.Where(s => !restoredIds.Contains(s.Id) && s.Summary != duplicate).ToDictionary(s => s.Summary);
            Assert.All(answers.Where(a => a.Status == 503), a => Assert.DoesNotContain(a.Summary, kept.Keys));
            Assert.All(kept.Keys, summary => Assert.Contains(distinct, a => a.Summary == summary)); // nothing unacknowledged
            Assert.All(distinct.Where(a => a.Answered < restoreSent), a => Assert.DoesNotContain(a.Summary, kept.Keys));
            Assert.All(distinct.Where(a => a.Sent > restoreAnswered), a =>
                Assert.True(kept.TryGetValue(a.Summary, out var row) && (row.Id, row.Count) == (a.Id, 1), $"write {a.Summary} acknowledged after the restore is missing"));
            var firstKept = distinct.Where(a => kept.ContainsKey(a.Summary)).Min(a => a.Answered);
            Assert.All(distinct.Where(a => !kept.ContainsKey(a.Summary)), lost =>
                Assert.True(lost.Sent < firstKept, $"write {lost.Summary} was sent after a kept write was answered, yet it is gone"));

            // The duplicate: one signal after the restore, created once and counting exactly the writes answered with it.
            var duplicateRow = Assert.Single(stored, s => s.Summary == duplicate);
            var withIt = answers.Where(a => a.Summary == duplicate && a.Id == duplicateRow.Id).ToList();
            Assert.Equal(duplicateRow.Count, withIt.Count);
            Assert.Single(withIt, a => a.Status == 201);
            Assert.All(answers.Where(a => a.Summary == duplicate && a.Id != duplicateRow.Id && a.Id is not null),
                a => Assert.True(a.Answered < restoreAnswered, "a duplicate answered with a signal the restore replaced after the restore was answered"));
        }
        finally
        {
            Array.ForEach(replicas, r => r.Dispose());
        }
    }

    [Fact]
    public async Task Writes_behind_a_slow_restore_wait_a_bounded_time_then_answer_503_restore_in_progress_and_succeed_after_it()
    {
        await using var database = await Database.CreateAsync();
        var replicas = await StartReplicasAsync(2, Settings(database.ConnectionString, ("Learning:RestoreWaitSeconds", "1")));
        try
        {
            using var admin = replicas[0].CreateClient(TestKeys.Admin);
            using var writers = new Writers([replicas[1].CreateClient(TestKeys.Writer), replicas[0].CreateClient(TestKeys.Writer)], workers: 3);
            await Eventually.WaitUntilAsync(() => writers.Answers.Count >= 50, "50 writes before the restore");

            // The restore takes learning_signals first, then waits for metrics_snapshots, which this session holds:
            // a real restore, held mid-swap for a few seconds with the writers' table locked.
            Task<HttpResponseMessage> restore;
            TimeSpan released;
            await using (var holder = new NpgsqlConnection(database.ConnectionString))
            {
                await holder.OpenAsync();
                await using var hold = await holder.BeginTransactionAsync();
                await new NpgsqlCommand("LOCK TABLE metrics_snapshots IN ROW EXCLUSIVE MODE", holder, hold).ExecuteNonQueryAsync();
                using var body = new StreamContent(File.OpenRead(ReferenceFixtures.PathOf("learning", "backup-envelope.json")));
                body.Headers.ContentType = new("application/json");
                restore = admin.PostAsync($"{Base}/restore", body);
                await Eventually.WaitUntilAsync(() => database.RestoreHoldsSignalsAsync(), "the restore to lock learning_signals");
                var held = Clock.Elapsed;
                await Eventually.WaitUntilAsync(() => writers.Answers.Count(a => a.Sent > held && a.Status == 503) >= 10, "10 writes answered 503 behind the restore");
                await Task.Delay(TimeSpan.FromSeconds(1.5));
                released = Clock.Elapsed;
            }
            using (var restored = await restore)
            {
                Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
            }
            var restoreAnswered = Clock.Elapsed;
            await Eventually.WaitUntilAsync(() => writers.Answers.Count(a => a.Sent > restoreAnswered && a.Status is 200 or 201) >= 30, "30 writes after the restore");
            var answers = await writers.StopAsync();

            output.WriteLine(string.Join(", ", answers.GroupBy(a => $"{a.Status} {a.Code}".Trim()).Select(g => $"{g.Key} ×{g.Count()}")) +
                             $"; slowest {answers.Max(a => a.Seconds):F2} s; slowest 503 {answers.Where(a => a.Status == 503).Max(a => a.Seconds):F2} s");
            Assert.All(answers, a => Assert.True(a.Status is 200 or 201 || (a.Status, a.Code, a.RetryAfter) == (503, "restore_in_progress", true),
                $"{a.Status} {a.Code} (Retry-After: {a.RetryAfter})"));
            // One second of waiting for the table, then the answer; a batch queued behind a timed-out one is answered with it.
            Assert.All(answers, a => Assert.True(a.Seconds < 3, $"a write took {a.Seconds:F1} s"));

            // Afterwards: the restored 100 signals plus only writes acknowledged once the restore could commit (after the
            // lock it waited for was released) — all of those sent after it was answered, none of those refused.
            var stored = (await database.QueryAsync("SELECT summary FROM learning_signals WHERE summary LIKE 'Replica test%'", r => r.GetString(0))).ToHashSet();
            Assert.Equal(100, await database.ScalarAsync("SELECT count(*) FROM learning_signals WHERE summary NOT LIKE 'Replica test%'"));
            var acknowledged = answers.Where(a => a.Status is 200 or 201).ToList();
            Assert.Subset(acknowledged.Where(a => a.Answered > released).Select(a => a.Summary).ToHashSet(), stored);
            Assert.Superset(acknowledged.Where(a => a.Sent > restoreAnswered).Select(a => a.Summary).ToHashSet(), stored);
            Assert.All(answers.Where(a => a.Status == 503), a => Assert.DoesNotContain(a.Summary, stored));
        }
        finally
        {
            Array.ForEach(replicas, r => r.Dispose());
        }
    }

    [Fact]
    public async Task Three_replicas_starting_together_import_once_back_up_once_and_prune_once()
    {
        await using var database = await Database.CreateAsync();
        var settings = Settings(database.ConnectionString,
            ("Learning:Migration:ImportOnStart", ReferenceFixtures.PathOf("learning", "legacy-state.json")),
            ("Learning:Backups:Schedule", "00:01:00"),
            ("Learning:MaxSignals", "60"),
            ("Learning:PruneIntervalSeconds", "1"),
            ("Logging:LogLevel:Agent33.Learning.Domain.LearningPruner", "Information"));
        var replicas = await StartReplicasAsync(3, settings);
        try
        {
            // Every replica is serving, so each has run its start-up import; the pruners tick every second.
            await Eventually.WaitUntilAsync(async () => await database.ScalarAsync("SELECT count(*) FROM learning_signals") == 60, "pruning to the cap of 60");
            await Eventually.WaitUntilAsync(async () => await database.ScalarAsync("SELECT count(*) FROM audit_events WHERE kind = 'backup_created'") >= 1, "the first scheduled backup");
            await Task.Delay(TimeSpan.FromSeconds(3)); // every replica's scheduler and pruner has looked by now, more than once

            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM import_runs"));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM import_runs WHERE status = 'imported' AND signals_imported = 100"));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM audit_events WHERE kind = 'legacy_imported'"));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM audit_events WHERE kind = 'backup_created' AND actor = 'scheduler'"));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM backups"));

            // The cap kept the newest 60 of the import (by recorded_at, then id), and one replica's pruner removed the rest.
            var legacy = JsonDocument.Parse(await File.ReadAllTextAsync(ReferenceFixtures.PathOf("learning", "legacy-state.json"))).RootElement;
            var newest = legacy.GetProperty("signals").EnumerateArray()
                .Select(s => (At: DateTimeOffset.Parse(s.GetProperty("recorded_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture), Id: s.GetProperty("signal_id").GetString()!))
                .OrderByDescending(s => s.At).ThenByDescending(s => s.Id, StringComparer.Ordinal).Take(60).Select(s => s.Id).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(newest, (await database.QueryAsync("SELECT signal_id FROM learning_signals", r => r.GetString(0))).Order(StringComparer.Ordinal).ToList());
            var pruned = replicas.SelectMany(r => r.Output.Split('\n'))
                .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"Pruned (\d+) signal\(s\)")).Where(m => m.Success).ToList();
            output.WriteLine($"pruning log lines: {string.Join(" | ", pruned.Select(m => m.Value))}");
            Assert.Equal(40, pruned.Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)));
            Assert.Single(pruned);
            Assert.All(replicas, r => Assert.DoesNotContain("failed", r.Output, StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            Array.ForEach(replicas, r => r.Dispose());
        }
    }

    private sealed record Answer(string Summary, int Status, string? Code, bool RetryAfter, string? Id, TimeSpan Sent, TimeSpan Answered)
    {
        public double Seconds => (Answered - Sent).TotalSeconds;
    }

    /// <summary>
    /// Concurrent writers spread over replicas until stopped, each writing distinct signals (and, with
    /// <paramref name="duplicate"/>, every third write that one duplicate), keeping every answer with its times.
    /// </summary>
    private sealed class Writers : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private readonly HttpClient[] _clients;

        public Writers(HttpClient[] clients, int workers, string? duplicate = null)
        {
            _clients = clients;
            _workers = Enumerable.Range(0, workers * clients.Length).Select(worker => Task.Run(async () =>
            {
                var client = clients[worker % clients.Length];
                for (var i = 0; !_stop.IsCancellationRequested; i++)
                {
                    var summary = duplicate is not null && i % 3 == 2 ? duplicate : $"Replica test signal {worker}-{i} written by a replica";
                    var sent = Clock.Elapsed;
                    using var response = await client.PostAsJsonAsync($"{Base}/signals", Signal(summary));
                    var json = await response.Content.ReadFromJsonAsync<JsonElement>();
                    Answers.Enqueue(new Answer(summary, (int)response.StatusCode,
                        json.TryGetProperty("code", out var code) ? code.GetString() : null, response.Headers.RetryAfter is not null,
                        json.TryGetProperty("signal_id", out var id) ? id.GetString() : null, sent, Clock.Elapsed));
                    if (!response.IsSuccessStatusCode)
                    {
                        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                        await Task.Delay(20);
                    }
                }
            })).ToArray();
        }

        public ConcurrentQueue<Answer> Answers { get; } = new();

        public async Task<List<Answer>> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            return [.. Answers];
        }

        public void Dispose()
        {
            _stop.Cancel(); // a failed test must not leave writers running
            Array.ForEach(_clients, c => c.Dispose());
        }
    }

    /// <summary>A database of its own on the shared test server for one test, dropped afterwards.</summary>
    private sealed class Database : IAsyncDisposable
    {
        private readonly PostgresFixture _fixture = new();

        public string ConnectionString => _fixture.ConnectionString;

        public static async Task<Database> CreateAsync()
        {
            var database = new Database();
            await database._fixture.InitializeAsync();
            return database;
        }

        public async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> read)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await using var query = new NpgsqlCommand(sql, connection);
            await using var reader = await query.ExecuteReaderAsync();
            var rows = new List<T>();
            while (await reader.ReadAsync())
            {
                rows.Add(read(reader));
            }
            return rows;
        }

        public async Task<long> ScalarAsync(string sql) => (await QueryAsync(sql, r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture))).Single();

        public async Task ExecuteAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await new NpgsqlCommand(sql, connection).ExecuteNonQueryAsync();
        }

        /// <summary>Whether a session holds learning_signals in SHARE ROW EXCLUSIVE mode (the restore's lock).</summary>
        public async Task<bool> RestoreHoldsSignalsAsync() => await ScalarAsync(
            "SELECT count(*) FROM pg_locks WHERE relation = 'learning_signals'::regclass AND mode = 'ShareRowExclusiveLock' AND granted") > 0;

        public async ValueTask DisposeAsync() => await _fixture.DisposeAsync();
    }
}
