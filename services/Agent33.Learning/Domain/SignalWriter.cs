using Agent33.Learning.Persistence;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Agent33.Learning.Domain;

/// <summary>
/// Writes a batch of signals in one transaction: each locks only its own dedupe fingerprint and touches its own row;
/// new signals also remove, in the same transaction, the signals that fell out of retention and — near the cap
/// (<see cref="StoredSignals"/> knows when either can be) — those they push past <c>MaxSignals</c>, through index
/// ranges, so the cap holds for the very next read as in the reference. <see cref="StatePruning"/> runs in the
/// background for what that leaves. Only <see cref="SignalGroupCommit"/> holds one: it decides what a batch is.
/// </summary>
public sealed class SignalWriter(LearningConnections connections, IOptions<LearningOptions> options, StoredSignals stored)
{
    private LearningOptions Policy => options.Value;

    /// <summary>
    /// Writes <paramref name="incoming"/> in one transaction, with the outcome each would have had written alone in
    /// this order: a signal merges into the newest row of its fingerprint inside the dedupe window — one stored, or
    /// one an earlier signal of the batch created — or is stored new. The signals given are left as they are, so a
    /// failed batch can be written again. Two round trips, whatever the batch and the table size: lock the
    /// fingerprints and find their duplicates, then write, prune and commit.
    /// </summary>
    public async Task<List<(SignalView Signal, bool Created)>> WriteBatchAsync(IReadOnlyList<LearningSignal> incoming)
    {
        var window = TimeSpan.FromMinutes(Policy.DedupeWindowMinutes);
        // Each fingerprint with the dedupe cutoff of its first signal; a later one's cutoff is checked below.
        var firsts = incoming.DistinctBy(s => s.Fingerprint).ToList();
        await using var connection = await connections.OpenAsync(CancellationToken.None);
        try
        {
            // The newest row in the window of each fingerprint, then the row each next duplicate merges into.
            var mergeTargets = new Dictionary<string, LearningSignal>();
            await using (var find = new NpgsqlBatch(connection))
            {
                find.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
                // The table first, before any row is read or locked: a restore or import (SHARE ROW EXCLUSIVE) swaps the
                // whole state, so the batch decides its merges on the state it will commit into, never on one the swap
                // replaces — and never holds a row the swap must delete while it waits for the swap (a deadlock). The
                // wait is bounded: past RestoreWaitSeconds the batch fails with lock_not_available (503 restore_in_progress).
                find.BatchCommands.Add(new NpgsqlBatchCommand($"SET LOCAL lock_timeout = {checked(Policy.RestoreWaitSeconds * 1000)}"));
                find.BatchCommands.Add(new NpgsqlBatchCommand("LOCK TABLE learning_signals IN ROW EXCLUSIVE MODE"));
                find.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL lock_timeout TO DEFAULT"));
                // Writers of one fingerprint queue on its lock, so concurrent duplicates merge and never lose a count.
                // The locks are taken in ascending order whatever the batch's, so two batches (of two replicas) that
                // share fingerprints never each hold one the other waits for.
                find.BatchCommands.Add(new NpgsqlBatchCommand(
                    "SELECT pg_advisory_xact_lock(key) FROM (SELECT DISTINCT hashtextextended(fingerprint, 0) AS key FROM unnest($1::text[]) AS fingerprint ORDER BY key) AS keys")
                {
                    Parameters = { new() { Value = firsts.Select(s => s.Fingerprint).ToArray() } },
                });
                if (window > TimeSpan.Zero)
                {
                    find.BatchCommands.Add(new NpgsqlBatchCommand(
                        $"SELECT {SignalRows.Columns} FROM learning_signals WHERE signal_id = ANY(ARRAY(" +
                        "SELECT (SELECT s.signal_id FROM learning_signals s WHERE s.fingerprint = f.fingerprint AND s.recorded_at >= f.since ORDER BY s.recorded_at DESC LIMIT 1) " +
                        "FROM unnest($1::text[], $2::timestamptz[]) AS f(fingerprint, since))) FOR UPDATE")
                    {
                        Parameters =
                        {
                            new() { Value = firsts.Select(s => s.Fingerprint).ToArray() },
                            new() { Value = firsts.Select(s => s.RecordedAt - window).ToArray() },
                        },
                    });
                }
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.NextResultAsync())
                {
                    while (reader.FieldCount > 1 && await reader.ReadAsync())
                    {
                        var row = SignalRows.Read(reader);
                        mergeTargets[row.Fingerprint] = row;
                    }
                }
            }

            var found = mergeTargets.Values.ToHashSet(); // by reference, as are the sets below
            var updates = new HashSet<LearningSignal>();
            var inserts = new List<LearningSignal>();
            var outcomes = new List<(SignalView Signal, bool Created)>(incoming.Count);
            foreach (var signal in incoming)
            {
                if (window > TimeSpan.Zero && mergeTargets.TryGetValue(signal.Fingerprint, out var target) && target.RecordedAt >= signal.RecordedAt - window)
                {
                    SignalMerge.Into(target, signal);
                    if (found.Contains(target))
                    {
                        updates.Add(target);
                    }
                    outcomes.Add((SignalView.From(target), false));
                }
                else
                {
                    var created = signal.Copy();
                    mergeTargets[signal.Fingerprint] = created;
                    inserts.Add(created);
                    outcomes.Add((SignalView.From(created), true));
                }
            }

            await using var write = new NpgsqlBatch(connection);
            if (inserts.Count > 0)
            {
                write.BatchCommands.Add(SignalRows.Command($"INSERT INTO learning_signals ({SignalRows.Columns}) SELECT * FROM {SignalRows.Unnested}", inserts));
            }
            if (updates.Count > 0)
            {
                write.BatchCommands.Add(SignalRows.Command($"UPDATE learning_signals s SET {SignalRows.UpdatedColumns} FROM {SignalRows.Unnested} WHERE s.signal_id = v.signal_id", updates));
            }
            var checkCap = inserts.Count > 0 && !stored.WellUnderCap(Policy.MaxSignals, inserts.Count);
            if (inserts.Count > 0)
            {
                foreach (var prune in PruneCommands(inserts.Max(s => s.RecordedAt), checkCap))
                {
                    write.BatchCommands.Add(prune);
                }
            }
            write.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            long? counted = null;
            (bool Known, DateTimeOffset? At) oldest = default;
            await using (var reader = await write.ExecuteReaderAsync())
            {
                do
                {
                    // Only the checks after a prune answer rows: the count after the cap, the oldest after retention.
                    if (reader.FieldCount == 1 && await reader.ReadAsync())
                    {
                        if (reader.GetName(0) == StoredCount)
                        {
                            counted = reader.GetInt64(0);
                        }
                        else
                        {
                            oldest = (true, reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0));
                        }
                    }
                }
                while (await reader.NextResultAsync());
            }
            foreach (var created in inserts)
            {
                stored.Added(created.RecordedAt);
            }
            if (counted is { } count)
            {
                stored.Counted(count);
            }
            if (oldest.Known)
            {
                stored.OldestIs(oldest.At);
            }
            return outcomes;
        }
        catch
        {
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await using var rollback = new NpgsqlCommand("ROLLBACK", connection);
                await rollback.ExecuteNonQueryAsync(CancellationToken.None);
            }
            throw;
        }
    }

    /// <summary>
    /// What new signals remove in their transaction, as the reference prunes on every write: the signals past
    /// retention (when the oldest may be) and, when <paramref name="checkCap"/>, those beyond the newest
    /// <c>MaxSignals</c>, with their intakes and links; after each, what <see cref="StoredSignals"/> needs to know
    /// (the oldest left, the count up to just past the cap). Each removal is an index range over (recorded_at,
    /// signal_id) — the cap's bound costs reading <c>MaxSignals</c> index entries, which is why it is only checked
    /// near the cap — and rows another transaction holds are skipped, never waited for (the next write or the
    /// pruner takes them). Below the cap with nothing expired, a write adds no statement at all.
    /// </summary>
    private IEnumerable<NpgsqlBatchCommand> PruneCommands(DateTimeOffset now, bool checkCap)
    {
        var cutoff = now.AddDays(-Policy.RetentionDays);
        if (Policy.RetentionDays > 0 && stored.MayHoldSignalsBefore(cutoff))
        {
            yield return PruneCommand("SELECT s.ctid FROM learning_signals s WHERE s.recorded_at < $1", cutoff);
            yield return new NpgsqlBatchCommand($"SELECT min(recorded_at) AS {OldestStored} FROM learning_signals");
        }
        if (checkCap)
        {
            yield return PruneCommand(
                "SELECT s.ctid FROM (SELECT recorded_at, signal_id FROM learning_signals ORDER BY recorded_at DESC, signal_id DESC OFFSET $1 LIMIT 1) c " +
                "JOIN learning_signals s ON (s.recorded_at, s.signal_id) <= (c.recorded_at, c.signal_id)",
                Policy.MaxSignals);
            yield return CountCommand(Policy.MaxSignals);
        }
    }

    private static NpgsqlBatchCommand PruneCommand(string victims, object parameter) => new(
        $"""
        WITH removed AS (DELETE FROM learning_signals WHERE ctid = ANY(ARRAY({victims} FOR UPDATE OF s SKIP LOCKED)) RETURNING signal_id),
        links AS (DELETE FROM signal_intake_map WHERE signal_id = ANY(ARRAY(SELECT signal_id FROM removed)))
        DELETE FROM generated_intakes WHERE generated_from_signal_id = ANY(ARRAY(SELECT signal_id FROM removed))
        """)
    {
        Parameters = { new() { Value = parameter } },
    };

    private const string StoredCount = "stored_count";
    private const string OldestStored = "oldest_stored";

    /// <summary>How many signals are stored, counted no further than one past the cap.</summary>
    private static NpgsqlBatchCommand CountCommand(int maxSignals) =>
        new($"SELECT count(*) AS {StoredCount} FROM (SELECT 1 FROM learning_signals LIMIT $1) t") { Parameters = { new() { Value = (long)maxSignals + 1 } } };
}
