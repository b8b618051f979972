using Agent33.Learning.Persistence;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Agent33.Learning.Domain;

/// <summary>
/// Retention and caps for what the writes leave (<see cref="SignalWriter"/> prunes as it inserts): intakes over their
/// cap, restored states, rows another writer held. Run every few seconds by <see cref="LearningPruner"/>.
/// </summary>
public sealed class StatePruning(LearningConnections connections, IOptions<LearningOptions> options, TimeProvider time, StoredSignals stored)
{
    private const long PruneLockKey = 0x4147_3333_5052_554E; // "AG33PRUN": one background prune at a time across replicas

    private LearningOptions Policy => options.Value;

    /// <summary>
    /// The reference's pruning: signals past retention or beyond the cap (oldest first), the intakes and
    /// links of pruned signals, intakes beyond their cap, and the intake references of what was removed.
    /// Every step deletes through an index range; nothing rewrites the kept rows. One replica at a time (a
    /// transaction-level advisory lock, tried, never waited for): the others' pruners skip the turn, rather than
    /// delete the same rows behind it (or deadlock with it over them).
    /// </summary>
    public async Task<(int Signals, int Intakes)> PruneAsync(CancellationToken ct)
    {
        await using var connection = await connections.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var turn = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({PruneLockKey})", connection, transaction))
        {
            if (await turn.ExecuteScalarAsync(ct) is not true)
            {
                return (0, 0); // another replica prunes right now
            }
        }
        var removedSignals = new List<string>();
        if (Policy.RetentionDays > 0)
        {
            removedSignals.AddRange(await ReturningAsync(connection, transaction,
                "DELETE FROM learning_signals WHERE recorded_at < @cutoff RETURNING signal_id",
                new NpgsqlParameter("cutoff", time.GetUtcNow().AddDays(-Policy.RetentionDays))));
        }
        removedSignals.AddRange(await ReturningAsync(connection, transaction,
            """
            WITH cutoff AS (SELECT recorded_at, signal_id FROM learning_signals ORDER BY recorded_at DESC, signal_id DESC OFFSET @max LIMIT 1)
            DELETE FROM learning_signals s USING cutoff c WHERE (s.recorded_at, s.signal_id) <= (c.recorded_at, c.signal_id)
            RETURNING s.signal_id
            """,
            new NpgsqlParameter("max", Policy.MaxSignals)));

        var removedIntakes = new List<string>();
        if (removedSignals.Count > 0)
        {
            await ExecuteAsync(connection, transaction, "DELETE FROM signal_intake_map WHERE signal_id = ANY(@ids)", new NpgsqlParameter("ids", removedSignals.ToArray()));
            removedIntakes.AddRange(await ReturningAsync(connection, transaction,
                "DELETE FROM generated_intakes WHERE generated_from_signal_id = ANY(@ids) RETURNING intake_id", new NpgsqlParameter("ids", removedSignals.ToArray())));
        }
        removedIntakes.AddRange(await ReturningAsync(connection, transaction,
            """
            WITH cutoff AS (SELECT submitted_at, intake_id FROM generated_intakes ORDER BY submitted_at DESC, intake_id DESC OFFSET @max LIMIT 1)
            DELETE FROM generated_intakes i USING cutoff c WHERE (i.submitted_at, i.intake_id) <= (c.submitted_at, c.intake_id)
            RETURNING i.intake_id
            """,
            new NpgsqlParameter("max", Policy.MaxGeneratedIntakes)));
        if (removedIntakes.Count > 0)
        {
            var ids = new NpgsqlParameter("ids", removedIntakes.ToArray());
            await ExecuteAsync(connection, transaction, "DELETE FROM signal_intake_map WHERE intake_id = ANY(@ids)", ids);
            await ExecuteAsync(connection, transaction,
                "UPDATE learning_signals SET related_intake_id = NULL, intake_generated = FALSE WHERE related_intake_id = ANY(@ids)",
                new NpgsqlParameter("ids", removedIntakes.ToArray()));
        }
        await using (var count = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM learning_signals LIMIT @limit) t), (SELECT min(recorded_at) FROM learning_signals)", connection, transaction))
        {
            count.Parameters.Add(new NpgsqlParameter("limit", (long)Policy.MaxSignals + 1));
            long total;
            DateTimeOffset? oldest;
            await using (var reader = await count.ExecuteReaderAsync(ct))
            {
                await reader.ReadAsync(ct);
                total = reader.GetInt64(0);
                oldest = reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1);
            }
            await transaction.CommitAsync(ct);
            stored.Counted(total);
            stored.OldestIs(oldest);
        }
        return (removedSignals.Count, removedIntakes.Count);
    }

    private static async Task<List<string>> ReturningAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter parameter)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(parameter);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter parameter)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(parameter);
        await command.ExecuteNonQueryAsync();
    }
}
