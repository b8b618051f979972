using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Agent33.Learning.Operations;

/// <summary>
/// What a restore and an import share: the input is read and verified whole first, from a local file, with nothing
/// locked; then it replaces the state in one transaction (all or nothing) while writers wait for that swap only.
/// </summary>
public sealed class StateReplacement(LearningDbContext db, QuarantineOperation quarantine, StoredSignals stored, TimeProvider time)
{
    private const string StateTables = "learning_signals, generated_intakes, signal_intake_map, metrics_snapshots";

    /// <summary>
    /// Two passes over a seekable input. The first reads and verifies all of it — every record, the counts and the
    /// checksum — and quarantines what it must, touching no learning table, however slowly the input was uploaded.
    /// Only then the swap: lock the tables, clear them and copy the verified records in, in one transaction.
    /// </summary>
    public async Task<RestoreResult> ReplaceAsync(Stream input, string? quarantineSource, bool requireEnvelopeOrState, CancellationToken ct)
    {
        input.Position = 0;
        int quarantined;
        var loadedAt = time.GetUtcNow();
        await using (var check = new StateWriter(connection: null, quarantineSource is null ? null :
            (kind, kept, reason) => new ValueTask(quarantine.QuarantineAsync(quarantineSource, kind, kept, reason, ct)), loadedAt))
        {
            var summary = await EnvelopeReader.ReadAsync(input, check, ct);
            if (requireEnvelopeOrState && !summary.SawStateSection)
            {
                throw new BackupFormatException(BackupEnvelope.Invalid, "The body is neither a backup envelope nor a learning state (no signals, generated_intakes, signal_intake_map or metrics_snapshots).");
            }
            quarantined = check.Quarantined;
        }

        input.Position = 0;
        await db.Database.OpenConnectionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(ct);
            // Writers wait for the swap instead of slipping rows into a state that is being replaced.
            await using (var lockTables = new NpgsqlCommand($"LOCK TABLE {StateTables} IN SHARE ROW EXCLUSIVE MODE", connection, transaction))
            {
                await lockTables.ExecuteNonQueryAsync(ct);
            }
            await using (var clear = new NpgsqlCommand($"DELETE FROM learning_signals; DELETE FROM generated_intakes; DELETE FROM signal_intake_map; DELETE FROM metrics_snapshots;", connection, transaction))
            {
                await clear.ExecuteNonQueryAsync(ct);
            }
            // The records the first pass quarantined are skipped again, silently: they are in the quarantine already.
            await using var writer = new StateWriter(connection, quarantineSource is null ? null : (_, _, _) => ValueTask.CompletedTask, loadedAt);
            await EnvelopeReader.ReadAsync(input, writer, ct, verify: false);
            await writer.CompleteAsync(ct);
            await transaction.CommitAsync(ct);
            stored.Forget(); // the state was replaced: the next write counts again
            return new RestoreResult("ok", writer.Signals, writer.Intakes, writer.MapEntries, quarantined);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, $"The state holds the same id twice: {ex.Detail ?? ex.MessageText}");
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            // Class 22, data exception: a value the records' checks let through still does not fit its column.
            throw new BackupFormatException(BackupEnvelope.Invalid, $"A record does not fit the learning tables: {ex.MessageText} ({ex.Where}).");
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
