using Npgsql;
using NpgsqlTypes;

namespace Agent33.Testing;

/// <summary>Fills the learning service's tables directly, fast, for tests and benchmarks where the seed is not what is measured.</summary>
public static class LearningSeed
{
    /// <summary>
    /// Tops <c>learning_signals</c> up to <paramref name="target"/> rows with COPY (tenant <c>bench</c>, distinct
    /// fingerprints), each <paramref name="spacing"/> (default one second) older than the one before.
    /// </summary>
    public static async Task TopUpSignalsAsync(string connectionString, int target, TimeSpan? spacing = null)
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
                var at = now - (spacing ?? TimeSpan.FromSeconds(1)) * i;
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
}
