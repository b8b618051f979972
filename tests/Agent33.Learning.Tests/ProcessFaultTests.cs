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
/// A durable Postgres server of this class's own (fsync and synchronous commit on, as in production), which the
/// outage test stops and starts; the other test classes never see it go away.
/// </summary>
public sealed class OwnPostgresFixture : IAsyncLifetime
{
    public PostgresServer.OwnPostgres Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartOwnAsync(durable: true);

    /// <summary>A new database; with <paramref name="password"/>, owned by a new role that logs in with it.</summary>
    public async Task<string> CreateDatabaseAsync(string? password = null)
    {
        var name = $"t_{Guid.NewGuid():N}";
        var builder = new NpgsqlConnectionStringBuilder(Server.ConnectionString) { Database = name };
        await using (var connection = new NpgsqlConnection(Server.ConnectionString))
        {
            await connection.OpenAsync();
            if (password is not null)
            {
                builder.Username = name;
                builder.Password = password;
                await new NpgsqlCommand($"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'", connection).ExecuteNonQueryAsync();
            }
            await new NpgsqlCommand($"CREATE DATABASE \"{name}\" OWNER \"{builder.Username}\"", connection).ExecuteNonQueryAsync();
        }
        return builder.ConnectionString;
    }

    public Task DisposeAsync()
    {
        Server.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// The learning service as a real process, killed with SIGKILL mid-work and cut off from its database:
/// what it acknowledged is kept, a restore is all or nothing, and an outage is a 503 it recovers from by itself.
/// </summary>
public sealed class ProcessFaultTests(OwnPostgresFixture postgres, ITestOutputHelper output) : IClassFixture<OwnPostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    private static Task<ServiceProcess> StartServiceAsync(string connectionString, params (string Key, string Value)[] more) =>
        ServiceProcess.StartAsync("Agent33.Learning", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["ConnectionStrings:learning"] = connectionString,
            ["RateLimiting:WritesPerSecond"] = "0",
        }.Concat(more.Select(m => KeyValuePair.Create(m.Key, m.Value))).ToDictionary());

    private static object Signal(string summary) => new
    {
        signal_type = "incident",
        severity = "high",
        summary,
        details = "Written by a fault test while the service is being killed or cut off from its database.",
        source = "fault-test",
    };

    [Fact]
    public async Task Every_acknowledged_signal_survives_a_kill_9_under_concurrent_writes_and_none_is_stored_twice()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        using var service = await StartServiceAsync(connectionString);
        using var client = service.CreateClient(TestKeys.Writer);
        using var writers = new Writers(client, workers: 12);

        await Eventually.WaitUntilAsync(() => writers.Acknowledged.Count >= 400, "400 acknowledged writes before the kill");
        service.Kill();
        var beforeKill = writers.Acknowledged.Count;
        await service.RestartAsync();
        await Eventually.WaitUntilAsync(() => writers.Acknowledged.Count >= beforeKill + 200, "200 acknowledged writes after the restart");
        var acknowledged = await writers.StopAsync();

        var stored = await StoredBySummaryAsync(connectionString);
        output.WriteLine($"{beforeKill} acknowledged before the kill, {acknowledged.Count} in all; {writers.CutOff} requests cut off; {stored.Count} stored " +
                         $"({stored.Count - acknowledged.Count} committed whose answer the kill cut off)");

        Assert.True(writers.CutOff > 0, "the kill cut no request off, so it did not happen under load");
        foreach (var (summary, id) in acknowledged)
        {
            Assert.True(stored.TryGetValue(summary, out var row), $"acknowledged signal {id} ('{summary}') was lost");
            Assert.Equal((id, 1), row);
        }
    }

    [Fact]
    public async Task Every_acknowledged_signal_survives_a_kill_9_while_a_batch_is_mid_transaction_and_the_batch_leaves_nothing()
    {
        const string held = "Fault test signal whose fingerprint another session holds";
        var connectionString = await postgres.CreateDatabaseAsync();
        using var service = await StartServiceAsync(connectionString);
        using var client = service.CreateClient(TestKeys.Writer);
        using var writers = new Writers(client, workers: 12);
        await Eventually.WaitUntilAsync(() => writers.Acknowledged.Count >= 300, "300 acknowledged writes before the kill");

        // A batch holding the held signal waits mid-transaction, its other fingerprints locked and read; the writers queue behind it.
        Task<HttpResponseMessage> blocked;
        int beforeKill;
        await using (var fingerprint = await HeldFingerprint.TakeAsync(connectionString, "tenant-a", "incident", held, "fault-test"))
        {
            blocked = client.PostAsJsonAsync($"{Base}/signals", Signal(held));
            await Eventually.WaitUntilAsync(fingerprint.WriterWaitsAsync, "a batch to wait for the held fingerprint");
            beforeKill = writers.Acknowledged.Count;
            service.Kill();
        }
        Assert.True(await Record.ExceptionAsync(() => blocked) is HttpRequestException, "the blocked batch was answered before the kill");
        await service.RestartAsync();
        await Eventually.WaitUntilAsync(() => writers.Acknowledged.Count >= beforeKill + 200, "200 acknowledged writes after the restart");
        var acknowledged = await writers.StopAsync();

        var stored = await StoredBySummaryAsync(connectionString);
        output.WriteLine($"{beforeKill} acknowledged before the kill, {acknowledged.Count} in all; {writers.CutOff} requests cut off; {stored.Count} stored");
        Assert.True(writers.CutOff > 0, "no writer was cut off: none queued behind the blocked batch");
        Assert.DoesNotContain(held, stored.Keys); // its transaction never got to write, let alone commit
        foreach (var (summary, id) in acknowledged)
        {
            Assert.True(stored.TryGetValue(summary, out var row), $"acknowledged signal {id} ('{summary}') was lost");
            Assert.Equal((id, 1), row);
        }
    }

    [Fact]
    public async Task A_restore_killed_midway_leaves_the_old_state_whole_and_a_full_restore_the_new_one()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        // A cap above the state: what is proved here is the restore's all-or-nothing, not the pruning of a restored state.
        using var service = await StartServiceAsync(connectionString, ("Learning:MaxSignals", "100000"));
        using var admin = service.CreateClient(TestKeys.Admin);

        // The new state: 80,000 signals, backed up. The old state: 30 signals written through the API.
        await LearningSeed.TopUpSignalsAsync(connectionString, 80_000);
        using var backup = await admin.PostAsync($"{Base}/backups", null);
        Assert.Equal(HttpStatusCode.Created, backup.StatusCode);
        var backupId = (await backup.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("backup_id").GetString();
        await ExecuteAsync(connectionString, "DELETE FROM learning_signals");
        for (var i = 0; i < 30; i++)
        {
            (await admin.PostAsJsonAsync($"{Base}/signals", Signal($"Old state signal number {i} before the restore"))).EnsureSuccessStatusCode();
        }
        var oldState = await SignalIdsAsync(connectionString);
        var newState = (await SignalIdsAsync(connectionString, "SELECT 'LS-seed' || lpad(g::text, 8, '0') FROM generate_series(0, 79999) g"));

        var restore = admin.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
        // Kill it midway: old rows deleted inside its transaction, 10,000 of the new ones copied in.
        await Eventually.WaitUntilAsync(() => RestoreCopiedAsync(connectionString, 10_000), "the restore to copy 10,000 signals");
        service.Kill();
        var interrupted = await Record.ExceptionAsync(() => restore);
        Assert.True(interrupted is HttpRequestException, $"the restore finished before the kill ({interrupted?.Message ?? "answered"}); it needs a larger state");

        await service.RestartAsync();
        Assert.Equal(oldState, await SignalIdsAsync(connectionString));

        using var completed = await admin.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
        Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        Assert.Equal(newState, await SignalIdsAsync(connectionString));
    }

    [Fact]
    public async Task A_database_outage_is_answered_503_within_seconds_and_recovered_from_without_a_restart()
    {
        const string password = "db-secret-5e1f0c9a";
        var connectionString = await postgres.CreateDatabaseAsync(password);
        using var service = await StartServiceAsync(connectionString, ("Logging:LogLevel:Default", "Information"));
        using var client = service.CreateClient(TestKeys.Writer);
        using var anonymous = service.CreateClient(key: null);
        using var impostor = service.CreateClient("key-secret-b7d3e2a4");
        var answers = new ConcurrentQueue<(string Phase, int Status, string? Code, double Seconds)>();
        var phase = "before";
        using var stop = new CancellationTokenSource();

        var load = Enumerable.Range(0, 6).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var clock = Stopwatch.StartNew();
                var startedIn = phase;
                using var response = worker % 2 == 0
                    ? await client.PostAsJsonAsync($"{Base}/signals", Signal($"Outage test signal {worker}-{i} during load"))
                    : await client.GetAsync($"{Base}/summary");
                string? code = null;
                if (!response.IsSuccessStatusCode)
                {
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                    code = await response.ProblemCodeAsync();
                    Assert.True(response.StatusCode != HttpStatusCode.ServiceUnavailable || response.Headers.RetryAfter is not null, "a 503 without Retry-After");
                }
                // A request that spans the outage's start or end counts as one of the outage's.
                var label = startedIn is "outage" or "recovering" ? startedIn : phase;
                answers.Enqueue((label, (int)response.StatusCode, code, clock.Elapsed.TotalSeconds));
                await Task.Delay(20);
            }
        })).ToArray();

        await Eventually.WaitUntilAsync(() => answers.Count(a => a.Phase == "before") >= 30, "30 answers before the outage");
        Assert.Equal(HttpStatusCode.Unauthorized, (await impostor.GetAsync($"{Base}/summary")).StatusCode);
        Assert.Equal(0, UnavailableCount(await anonymous.GetStringAsync("/metrics"))); // the series exists before the first 503
        phase = "outage";
        await postgres.Server.StopAsync();
        try
        {
            await Eventually.WaitUntilAsync(() => answers.Count(a => a.Phase == "outage" && a.Status == 503) >= 20, "20 answers of 503 during the outage");
            using var health = await anonymous.GetAsync("/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal("unhealthy", (await health.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        }
        finally
        {
            await postgres.Server.StartAsync();
        }
        phase = "recovering";
        var recovered = Stopwatch.StartNew();
        await Eventually.WaitUntilAsync(async () => (await anonymous.GetAsync("/health")).IsSuccessStatusCode, "/health to be healthy again");
        await Eventually.WaitUntilAsync(() => answers.Count(a => a.Phase == "recovering" && a.Status == 201) >= 20, "writes to succeed again");
        var recoverySeconds = recovered.Elapsed.TotalSeconds;
        phase = "after";
        await Eventually.WaitUntilAsync(() => answers.Count(a => a.Phase == "after") >= 30, "30 answers after the recovery");
        await stop.CancelAsync();
        await Task.WhenAll(load);

        var byPhase = answers.GroupBy(a => a.Phase).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (name, list) in byPhase)
        {
            output.WriteLine($"{name}: {list.Count} answers, " + string.Join(", ", list.GroupBy(a => $"{a.Status} {a.Code}").Select(g => $"{g.Key.Trim()} ×{g.Count()}")) +
                             $", slowest {list.Max(a => a.Seconds):F2} s");
        }
        output.WriteLine($"healthy and writing again {recoverySeconds:F1} s after Postgres returned");

        Assert.All(byPhase["before"].Concat(byPhase["after"]), a => Assert.True(a.Status is 200 or 201, $"{a.Status} {a.Code} outside the outage"));
        Assert.Contains(byPhase["outage"], a => a.Status == 503);
        Assert.All(byPhase["outage"].Concat(byPhase["recovering"]), a =>
            Assert.True(a.Status is 200 or 201 || (a.Status, a.Code) == (503, "database_unavailable"), $"{a.Status} {a.Code} during the outage"));
        Assert.All(answers, a => Assert.True(a.Seconds < 10, $"an answer took {a.Seconds:F1} s"));
        // Every 503 database_unavailable was counted for the learning_database_unavailable alert, nothing else was.
        Assert.Equal(answers.Count(a => a.Code == "database_unavailable"), UnavailableCount(await anonymous.GetStringAsync("/metrics")));

        // Everything the service logged through the outage, at Information level: no secret among it.
        Assert.Contains("database", service.Output, StringComparison.OrdinalIgnoreCase);
        foreach (var secret in (string[])[password, "key-secret-b7d3e2a4", TestKeys.Writer, TestKeys.Admin])
        {
            Assert.DoesNotContain(secret, service.Output);
        }
    }

    /// <summary>The value of learning_database_unavailable_total in a scrape; fails when the series is missing.</summary>
    private static long UnavailableCount(string metrics)
    {
        var count = PrometheusText.Sample(metrics, "learning_database_unavailable_total");
        Assert.True(count is not null, "no learning_database_unavailable_total series on /metrics");
        return (long)count.Value;
    }

    [Fact]
    public async Task A_stop_signal_under_write_load_shuts_the_service_down_in_seconds_and_keeps_what_it_acknowledged()
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        using var service = await StartServiceAsync(connectionString);
        using var client = service.CreateClient(TestKeys.Writer);
        using var writers = new Writers(client, workers: 8);
        await Eventually.WaitUntilAsync(() => writers.Acknowledged.Count >= 100, "100 acknowledged writes");

        // Kubernetes allows 30 s before it kills; the AppHost less. In-flight requests finish, the pruner stops at once.
        var took = await service.StopAsync(TimeSpan.FromSeconds(15));
        var acknowledged = await writers.StopAsync();
        output.WriteLine($"stopped {took.TotalSeconds:F1} s after SIGTERM with {acknowledged.Count} writes acknowledged");
        Assert.True(took < TimeSpan.FromSeconds(5), $"the service took {took.TotalSeconds:F1} s to stop");
        var stored = (await SignalIdsAsync(connectionString)).ToHashSet();
        Assert.All(acknowledged.Values, id => Assert.Contains(id, stored));
    }

    /// <summary>Whether a COPY into learning_signals has passed <paramref name="rows"/> rows (Postgres's own progress view).</summary>
    private static async Task<bool> RestoreCopiedAsync(string connectionString, long rows)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand(
            "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy WHERE relid = 'learning_signals'::regclass", connection);
        return (long)(await query.ExecuteScalarAsync())! >= rows;
    }

    /// <summary>tenant-a's stored signals by summary (the writers' summaries are distinct); fails when one is stored twice.</summary>
    private static async Task<Dictionary<string, (string Id, int Count)>> StoredBySummaryAsync(string connectionString)
    {
        var stored = new Dictionary<string, (string Id, int Count)>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT summary, signal_id, occurrence_count FROM learning_signals WHERE tenant_id = 'tenant-a'", connection);
        await using var reader = await query.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            Assert.True(stored.TryAdd(reader.GetString(0), (reader.GetString(1), reader.GetInt32(2))), $"'{reader.GetString(0)}' is stored twice");
        }
        return stored;
    }

    private static async Task<List<string>> SignalIdsAsync(string connectionString, string sql = "SELECT signal_id FROM learning_signals")
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand($"SELECT id FROM ({sql}) AS s(id) ORDER BY id", connection);
        await using var reader = await query.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await new NpgsqlCommand(sql, connection).ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Concurrent writers of distinct signals until stopped, keeping what was acknowledged. A request cut off by a
    /// dying service (or refused while it is down) is not acknowledged, so nothing is promised for it; any other
    /// answer than an acknowledgement fails the test.
    /// </summary>
    private sealed class Writers : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _workers;
        private int _cutOff;

        public Writers(HttpClient client, int workers) => _workers = Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !_stop.IsCancellationRequested; i++)
            {
                var summary = $"Fault test signal {worker}-{i} written under load";
                try
                {
                    using var response = await client.PostAsJsonAsync($"{Base}/signals", Signal(summary));
                    if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
                    {
                        throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }
                    Acknowledged[summary] = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signal_id").GetString()!;
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref _cutOff);
                    await Task.Delay(20);
                }
            }
        })).ToArray();

        /// <summary>Summary → signal id of every acknowledged write.</summary>
        public ConcurrentDictionary<string, string> Acknowledged { get; } = new();

        public int CutOff => Volatile.Read(ref _cutOff);

        public async Task<IReadOnlyDictionary<string, string>> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
            return Acknowledged;
        }

        public void Dispose() => _stop.Cancel(); // a failed test must not leave writers running
    }
}
