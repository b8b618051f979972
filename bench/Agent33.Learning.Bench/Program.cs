using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Agent33.Testing;
using Npgsql;

// Durable signal writes over HTTP: 32 concurrent clients against the learning service on loopback, once with
// 1,000 and once with 100,000 stored signals. Postgres runs with its durable defaults (fsync and synchronous
// commit on): a 201/200 means the signal is on disk. Concurrent writes share transactions (group commit); each
// phase reports how many signals a transaction held on average. Then a backup and a restore of the 100k-signal state,
// with their time and the service's peak memory. Usage: [seconds per write phase and warmup, default 15]
// With "reads [signals, default 1000000] [days they span, default 365]": the reads, export, backup and restore at that many stored signals (ReadsAtScale.cs).
var reads = args is ["reads", ..];
var seconds = !reads && args.Length > 0 ? int.Parse(args[0]) : 15;
using var server = await PostgresServer.StartOwnAsync(durable: true);
var adminConnection = server.ConnectionString;
await using (var create = new NpgsqlConnection(adminConnection))
{
    await create.OpenAsync();
    await new NpgsqlCommand("CREATE DATABASE bench", create).ExecuteNonQueryAsync();
}
var connectionString = new NpgsqlConnectionStringBuilder(adminConnection) { Database = "bench", MaxPoolSize = 64 }.ConnectionString;

const string key = "bench-key";
using var service = await ServiceProcess.StartAsync("Agent33.Learning", new Dictionary<string, string>
{
    ["ConnectionStrings:learning"] = connectionString,
    ["Auth:ApiKeys:0:Key"] = key,
    ["Auth:ApiKeys:0:Tenant"] = "bench",
    ["Auth:ApiKeys:0:Scopes:0"] = "admin",
    ["RateLimiting:WritesPerSecond"] = "0",
    ["Learning:MaxSignals"] = "1000000",
    ["Learning:RetentionDays"] = "3650", // a year of signals stays
});
if (reads)
{
    using var readClient = service.CreateClient(key);
    readClient.Timeout = TimeSpan.FromMinutes(10);
    await ReadsAtScale.RunAsync(connectionString, service, readClient, args.Length > 1 ? int.Parse(args[1]) : 1_000_000, args.Length > 2 ? double.Parse(args[2]) : 365);
    return;
}
{
    using var client = service.CreateClient(key, maxConnections: 32);
    client.Timeout = TimeSpan.FromMinutes(5);

    // JIT tiers and connection pools, not measured: as long as a phase, for a pass right after a 5 s warmup measured
    // a third fewer writes than a second pass at the same size.
    await LoadAsync(client, "warmup", TimeSpan.FromSeconds(Math.Max(5, seconds)));
    await using (var reset = new NpgsqlConnection(connectionString))
    {
        await reset.OpenAsync();
        await new NpgsqlCommand("TRUNCATE learning_signals", reset).ExecuteNonQueryAsync();
    }
    await LearningSeed.TopUpSignalsAsync(connectionString, 1_000);
    var small = await LoadAsync(client, "small", TimeSpan.FromSeconds(seconds));
    await LearningSeed.TopUpSignalsAsync(connectionString, 100_000);
    var large = await LoadAsync(client, "large", TimeSpan.FromSeconds(seconds));

    Console.WriteLine($"durable writes, 32 clients, {Environment.ProcessorCount} cores shared by client, service and Postgres:");
    Console.WriteLine($"  at   ~1k stored: {small.Rate:F0} writes/s, p50 {small.P50:F1} ms, p99 {small.P99:F1} ms, {small.SignalsPerCommit:F1} signals per commit");
    Console.WriteLine($"  at ~100k stored: {large.Rate:F0} writes/s, p50 {large.P50:F1} ms, p99 {large.P99:F1} ms, {large.SignalsPerCommit:F1} signals per commit");
    Console.WriteLine($"  100k/1k throughput ratio {large.Rate / small.Rate:F2}, p99 ratio {large.P99 / small.P99:F2}");

    // Backup and restore of the whole state (~100k signals), streamed; peak memory is the service's high-water mark.
    var count = await CountAsync(connectionString);
    var baseline = service.PeakMegabytes();
    var clock = Stopwatch.StartNew();
    using var backup = await client.PostAsync("/v1/improvements/learning/backups", null);
    var backupSeconds = clock.Elapsed.TotalSeconds;
    var backupId = (await backup.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("backup_id").GetString();
    var afterBackup = service.PeakMegabytes();
    clock.Restart();
    using var restore = await client.PostAsJsonAsync("/v1/improvements/learning/restore", new { backup_id = backupId });
    restore.EnsureSuccessStatusCode();
    var restoreSeconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"backup of {count:N0} signals: {backupSeconds:F1} s; restore: {restoreSeconds:F1} s; " +
                      $"service peak memory {baseline:F0} MB before, {afterBackup:F0} MB after the backup, {service.PeakMegabytes():F0} MB after the restore");
}

static async Task<(double Rate, double P50, double P99, double SignalsPerCommit)> LoadAsync(HttpClient client, string phase, TimeSpan duration)
{
    var (signalsBefore, commitsBefore) = await CommitsAsync(client);
    var until = DateTime.UtcNow + duration;
    var latencies = new List<double>[32];
    var started = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 32).Select(async worker =>
    {
        var mine = latencies[worker] = new List<double>(50_000);
        for (var i = 0; DateTime.UtcNow < until; i++)
        {
            var begin = Stopwatch.GetTimestamp();
            using var response = await client.PostAsJsonAsync("/v1/improvements/learning/signals", new
            {
                signal_type = "performance",
                severity = "medium",
                summary = $"Benchmark {phase} signal {worker}-{i} with a realistic summary",
                details = "Latency of the checkout service exceeded its objective during the benchmark run.",
                source = "bench",
                context = new Dictionary<string, string> { ["worker"] = worker.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            });
            if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
            {
                throw new InvalidOperationException($"write failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            mine.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
        }
    }));
    var elapsed = started.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    var (signals, commits) = await CommitsAsync(client);
    return (all.Length / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)], (signals - signalsBefore) / (commits - commitsBefore));
}

// Signals written and transactions committed so far, from the service's learning_signal_batch_size histogram.
static async Task<(double Signals, double Commits)> CommitsAsync(HttpClient client)
{
    var metrics = (await client.GetStringAsync("/metrics")).Split('\n');
    double Value(string series) => metrics.Where(l => l.StartsWith(series, StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    return (Value("learning_signal_batch_size_sum"), Value("learning_signal_batch_size_count"));
}

static async Task<long> CountAsync(string connectionString)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    return (long)(await new NpgsqlCommand("SELECT count(*) FROM learning_signals", connection).ExecuteScalarAsync())!;
}
