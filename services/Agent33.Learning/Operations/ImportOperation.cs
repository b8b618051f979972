using Agent33.Learning.Backup;
using Agent33.Learning.LegacyMigration;
using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Agent33.Learning.Operations;

/// <summary>
/// Imports the reference engine's legacy stores (its JSON state file or SQLite database) in place of the learning
/// state. Bad records fail the import, or with <c>quarantine</c> are kept verbatim, audited and counted; a payload
/// that cannot be read at all is always quarantined.
/// </summary>
public sealed class ImportOperation(LearningDbContext db, StateReplacement replacement, QuarantineOperation quarantine, AuditTrail audit, TimeProvider time)
{
    /// <summary>
    /// Imports a reference legacy store (JSON file or SQLite database). Idempotent: a database that already
    /// holds learning state is left alone unless <paramref name="force"/> (then the import replaces it).
    /// </summary>
    public async Task<RestoreResult> ImportAsync(LegacySource source, bool force, bool quarantineCorrupt, string actor, CancellationToken ct)
    {
        var sourceName = $"{source.Kind}:{source.Path}";
        if (!force && await db.Signals.AnyAsync(ct))
        {
            var skipped = new RestoreResult("skipped", 0, 0, 0, 0, "The learning database already holds signals; nothing imported (use force to replace them).");
            await RecordRunAsync(source, force, skipped, ct);
            return skipped;
        }

        // The state is read as a stream, never whole: a file, the SQLite row, or an upload spooled to disk.
        // It must be seekable, so a payload that proves corrupt can be read again for the quarantine.
        if (!source.State.CanSeek)
        {
            throw new ArgumentException("A legacy source must be seekable (a file or a spooled upload).", nameof(source));
        }
        try
        {
            var result = await replacement.ReplaceAsync(source.State, quarantineCorrupt ? sourceName : null, requireEnvelopeOrState: false, ct);
            if (!quarantineCorrupt || result.Quarantined == 0)
            {
                result = result with { Status = "imported" };
            }
            else
            {
                result = result with { Status = "imported_with_quarantine", Message = $"{result.Quarantined} invalid record(s) quarantined; see GET /quarantine." };
            }
            await RecordRunAsync(source, force, result, ct);
            await audit.RecordAsync("legacy_imported", actor, new { source = sourceName, result.SignalCount, result.IntakeCount, result.Quarantined }, ct);
            return result;
        }
        catch (BackupFormatException ex)
        {
            // The payload itself is unreadable: keep it (its beginning, hash and size), whatever the mode, and report.
            await quarantine.QuarantineAsync(sourceName, "payload", await QuarantinedPayload.FromStreamAsync(source.State, ct), ex.Message, ct);
            var failed = new RestoreResult("rejected", 0, 0, 0, 1, $"The legacy payload is corrupt and was quarantined: {ex.Message}");
            await RecordRunAsync(source, force, failed, ct);
            throw;
        }
    }

    private async Task RecordRunAsync(LegacySource source, bool force, RestoreResult result, CancellationToken ct)
    {
        db.ImportRuns.Add(new ImportRun
        {
            StartedAt = time.GetUtcNow(),
            FinishedAt = time.GetUtcNow(),
            SourceKind = source.Kind,
            Source = source.Path,
            Status = result.Status,
            Forced = force,
            SignalsImported = result.SignalCount,
            IntakesImported = result.IntakeCount,
            MapEntriesImported = result.SignalIntakeMapCount,
            Quarantined = result.Quarantined,
            Message = result.Message,
        });
        await db.SaveChangesAsync(ct);
    }
}
