using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;
using Npgsql;
using NpgsqlTypes;

/// <summary>
/// The learning service's reads with a million stored signals in one tenant, seeded by COPY over <c>days</c>: over a
/// year (the default) a 30-day window holds 82,000 of them; over 11 days, every window holds all of them (the worst
/// case, and how the signals were laid out when this was first measured). Timed from the client: summary, trends,
/// calibration, intakes, a page of signals filtered by type, and the tenth page of a walk; then the export of all
/// of them, a backup and a restore, with the service's peak memory during each.
/// </summary>
internal static class ReadsAtScale
{
    private const string Base = "/v1/improvements/learning";

    public static async Task RunAsync(string connectionString, ServiceProcess service, HttpClient client, int signals, double days)
    {
        Console.WriteLine($"seeding {signals:N0} signals over {days} days and 10,000 intakes with COPY…");
        await LearningSeed.TopUpSignalsAsync(connectionString, signals, TimeSpan.FromDays(days) / signals);
        await SeedIntakesAsync(connectionString, 10_000);
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            // What autovacuum does soon after a bulk load: the visibility map lets index-only scans skip the heap.
            await new NpgsqlCommand("VACUUM ANALYZE learning_signals", connection).ExecuteNonQueryAsync();
            await new NpgsqlCommand("VACUUM ANALYZE generated_intakes", connection).ExecuteNonQueryAsync();
        }

        var tenthPage = await TenthPageAsync(client);
        string[] routes =
        [
            $"{Base}/summary?window_days=30",
            $"{Base}/trends",
            $"{Base}/calibration",
            $"{Base}/intakes?limit=100",
            $"{Base}/signals?limit=1000&signal_type=bug",
            tenthPage,
        ];
        Console.WriteLine($"reads at {signals:N0} signals, 25 requests each after 3 unmeasured (client, service and Postgres on {Environment.ProcessorCount} cores):");
        foreach (var route in routes)
        {
            var times = new List<double>();
            for (var i = 0; i < 28; i++)
            {
                var begin = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync(route);
                response.EnsureSuccessStatusCode();
                await response.Content.LoadIntoBufferAsync();
                if (i >= 3)
                {
                    times.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                }
            }
            times.Sort();
            var name = route == tenthPage ? $"{Base}/signals?limit=1000 (10th page)" : route;
            Console.WriteLine($"  {name,-62} p50 {times[times.Count / 2],7:F1} ms  p99 {times[^1],7:F1} ms");
        }

        service.ResetPeakMemory();
        var clock = Stopwatch.StartNew();
        using (var export = await client.GetAsync($"{Base}/signals/export", HttpCompletionOption.ResponseHeadersRead))
        {
            export.EnsureSuccessStatusCode();
            await using var body = await export.Content.ReadAsStreamAsync();
            long lines = 0, bytes = 0;
            var buffer = new byte[64 * 1024];
            for (int read; (read = await body.ReadAsync(buffer)) > 0;)
            {
                bytes += read;
                lines += buffer.AsSpan(0, read).Count((byte)'\n');
            }
            Console.WriteLine($"export: {lines:N0} signals, {bytes / 1048576.0:F0} MB of NDJSON in {clock.Elapsed.TotalSeconds:F1} s; service peak memory {service.PeakMegabytes():F0} MB");
        }

        service.ResetPeakMemory();
        clock.Restart();
        using var backup = await client.PostAsync($"{Base}/backups", null);
        backup.EnsureSuccessStatusCode();
        var backupId = (await backup.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("backup_id").GetString();
        Console.WriteLine($"backup: {clock.Elapsed.TotalSeconds:F1} s; service peak memory {service.PeakMegabytes():F0} MB");
        service.ResetPeakMemory();
        clock.Restart();
        using var restore = await client.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
        restore.EnsureSuccessStatusCode();
        Console.WriteLine($"restore: {clock.Elapsed.TotalSeconds:F1} s; service peak memory {service.PeakMegabytes():F0} MB");
    }

    /// <summary>Follows <c>Link: rel="next"</c> nine times from the first page of 1,000; returns the tenth page's link.</summary>
    private static async Task<string> TenthPageAsync(HttpClient client)
    {
        var next = $"{Base}/signals?limit=1000";
        for (var page = 1; page < 10; page++)
        {
            using var response = await client.GetAsync(next);
            response.EnsureSuccessStatusCode();
            var link = response.Headers.GetValues("Link").Single();
            next = link[1..link.IndexOf('>')];
        }
        return next;
    }

    private static async Task SeedIntakesAsync(string connectionString, int count)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var copy = await connection.BeginBinaryImportAsync(
            "COPY generated_intakes (intake_id, tenant_id, generated_from_signal_id, submitted_at, document) FROM STDIN (FORMAT BINARY)");
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < count; i++)
        {
            await copy.StartRowAsync();
            await copy.WriteAsync($"RI-seed{i:D8}", NpgsqlDbType.Varchar);
            await copy.WriteAsync("bench", NpgsqlDbType.Varchar);
            await copy.WriteAsync($"LS-seed{i:D8}", NpgsqlDbType.Varchar);
            await copy.WriteAsync(now.AddSeconds(-i), NpgsqlDbType.TimestampTz);
            await copy.WriteAsync($$"""{"intake_id": "RI-seed{{i:D8}}", "title": "Seeded intake {{i}}"}""", NpgsqlDbType.Jsonb);
        }
        await copy.CompleteAsync();
    }
}
