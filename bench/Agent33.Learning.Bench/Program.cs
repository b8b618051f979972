using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Agent33.Testing;
using Npgsql;
using NpgsqlTypes;

// Durable signal writes over HTTP: 32 concurrent clients against the learning service on loopback, once with
// 1,000 and once with 100,000 stored signals. Postgres runs with its durable defaults (fsync and synchronous
// commit on): a 201/200 means the signal is on disk. Then a backup and a restore of the 100k-signal state,
// with their time and the service's peak memory. Usage: [seconds per write phase, default 15]
var seconds = args.Length > 0 ? int.Parse(args[0]) : 15;
var (adminConnection, server) = await PostgresServer.StartDurableAsync();
using var _ = server;
await using (var create = new NpgsqlConnection(adminConnection))
{
    await create.OpenAsync();
    await new NpgsqlCommand("CREATE DATABASE bench", create).ExecuteNonQueryAsync();
}
var connectionString = new NpgsqlConnectionStringBuilder(adminConnection) { Database = "bench", MaxPoolSize = 64 }.ConnectionString;

const string key = "bench-key";
var port = FreePort();
using var service = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Agent33.Learning.dll")])
{
    Environment =
    {
        ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["Logging__LogLevel__Default"] = "Warning",
        ["ConnectionStrings__learning"] = connectionString,
        ["Auth__ApiKeys__0__Key"] = key,
        ["Auth__ApiKeys__0__Tenant"] = "bench",
        ["Auth__ApiKeys__0__Scopes__0"] = "admin",
        ["RateLimiting__WritesPerSecond"] = "0",
        ["Learning__MaxSignals"] = "1000000",
    },
    RedirectStandardOutput = true,
})!;
try
{
    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 32 };
    using var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(5) };
    client.DefaultRequestHeaders.Authorization = new("Bearer", key);
    await WaitUntilHealthyAsync(client);

    await LoadAsync(client, "warmup", TimeSpan.FromSeconds(5)); // JIT and connection pools, not measured
    await using (var reset = new NpgsqlConnection(connectionString))
    {
        await reset.OpenAsync();
        await new NpgsqlCommand("TRUNCATE learning_signals", reset).ExecuteNonQueryAsync();
    }
    await SeedAsync(connectionString, 1_000);
    var small = await LoadAsync(client, "small", TimeSpan.FromSeconds(seconds));
    await SeedAsync(connectionString, 100_000);
    var large = await LoadAsync(client, "large", TimeSpan.FromSeconds(seconds));

    Console.WriteLine($"durable writes, 32 clients, {Environment.ProcessorCount} cores shared by client, service and Postgres:");
    Console.WriteLine($"  at   ~1k stored: {small.Rate:F0} writes/s, p50 {small.P50:F1} ms, p99 {small.P99:F1} ms");
    Console.WriteLine($"  at ~100k stored: {large.Rate:F0} writes/s, p50 {large.P50:F1} ms, p99 {large.P99:F1} ms");
    Console.WriteLine($"  100k/1k throughput ratio {large.Rate / small.Rate:F2}, p99 ratio {large.P99 / small.P99:F2}");

    // Backup and restore of the whole state (~100k signals), streamed; peak memory is the service's high-water mark.
    var count = await CountAsync(connectionString);
    var baseline = PeakMegabytes(service);
    var clock = Stopwatch.StartNew();
    using var backup = await client.PostAsync("/v1/improvements/learning/backups", null);
    var backupSeconds = clock.Elapsed.TotalSeconds;
    var backupId = (await backup.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("backup_id").GetString();
    var afterBackup = PeakMegabytes(service);
    clock.Restart();
    using var restore = await client.PostAsJsonAsync("/v1/improvements/learning/restore", new { backup_id = backupId });
    restore.EnsureSuccessStatusCode();
    var restoreSeconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"backup of {count:N0} signals: {backupSeconds:F1} s; restore: {restoreSeconds:F1} s; " +
                      $"service peak memory {baseline:F0} MB before, {afterBackup:F0} MB after the backup, {PeakMegabytes(service):F0} MB after the restore");
}
finally
{
    service.Kill(entireProcessTree: true);
}

static async Task<(double Rate, double P50, double P99)> LoadAsync(HttpClient client, string phase, TimeSpan duration)
{
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
    return (all.Length / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
}

// Tops the table up to `target` rows with COPY (the seed is not what is measured).
static async Task SeedAsync(string connectionString, int target)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    var existing = (long)(await new NpgsqlCommand("SELECT count(*) FROM learning_signals", connection).ExecuteScalarAsync())!;
    await using (var copy = await connection.BeginBinaryImportAsync(
        "COPY learning_signals (signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context, " +
        "quality_score, quality_label, quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, fingerprint) FROM STDIN (FORMAT BINARY)"))
    {
        var now = DateTimeOffset.UtcNow;
        for (var i = existing; i < target; i++)
        {
            var at = now.AddSeconds(-i);
            await copy.StartRowAsync();
            await copy.WriteAsync($"LS-seed{i:D8}", NpgsqlDbType.Varchar);
            await copy.WriteAsync(at, NpgsqlDbType.TimestampTz);
            await copy.WriteAsync("bug", NpgsqlDbType.Varchar);
            await copy.WriteAsync("low", NpgsqlDbType.Varchar);
            await copy.WriteAsync(1, NpgsqlDbType.Integer);
            await copy.WriteAsync("bench", NpgsqlDbType.Varchar);
            await copy.WriteAsync($"Seeded signal {i}", NpgsqlDbType.Text);
            await copy.WriteAsync("", NpgsqlDbType.Text);
            await copy.WriteAsync("seed", NpgsqlDbType.Text);
            await copy.WriteAsync("{}", NpgsqlDbType.Jsonb);
            await copy.WriteAsync(0.3, NpgsqlDbType.Double);
            await copy.WriteAsync("low", NpgsqlDbType.Varchar);
            await copy.WriteAsync("[]", NpgsqlDbType.Jsonb);
            await copy.WriteAsync("{}", NpgsqlDbType.Jsonb);
            await copy.WriteAsync(1, NpgsqlDbType.Integer);
            await copy.WriteAsync(at, NpgsqlDbType.TimestampTz);
            await copy.WriteAsync(at, NpgsqlDbType.TimestampTz);
            await copy.WriteAsync(false, NpgsqlDbType.Boolean);
            await copy.WriteAsync($"seed{i:D8}", NpgsqlDbType.Varchar);
        }
        await copy.CompleteAsync();
    }
    await new NpgsqlCommand("ANALYZE learning_signals", connection).ExecuteNonQueryAsync();
}

static async Task<long> CountAsync(string connectionString)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    return (long)(await new NpgsqlCommand("SELECT count(*) FROM learning_signals", connection).ExecuteScalarAsync())!;
}

// VmHWM: the process's resident-set high-water mark.
static double PeakMegabytes(Process process)
{
    var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
}

static async Task WaitUntilHealthyAsync(HttpClient client)
{
    for (var i = 0; i < 300; i++)
    {
        try
        {
            if ((await client.GetAsync("/health")).IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }
        await Task.Delay(200);
    }
    throw new InvalidOperationException("the learning service did not become healthy");
}

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}
