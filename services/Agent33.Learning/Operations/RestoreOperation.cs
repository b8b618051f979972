using Agent33.Learning.Backup;

namespace Agent33.Learning.Operations;

/// <summary>Restores the whole learning state from an uploaded envelope or raw state, or from a stored backup; all or nothing.</summary>
public sealed class RestoreOperation(StateReplacement replacement, IBackupStore store, AuditTrail audit)
{
    /// <summary>
    /// Replaces the whole state with an uploaded envelope or raw state; nothing changes unless all of it verifies.
    /// A stream that cannot be read twice (the command line's progress bar) is spooled to a temporary file first.
    /// </summary>
    public async Task<RestoreResult> RestoreAsync(Stream input, string actor, CancellationToken ct)
    {
        FileStream? spool = null;
        try
        {
            if (!input.CanSeek)
            {
                spool = TempFile();
                await input.CopyToAsync(spool, ct);
                spool.Position = 0;
            }
            var result = await replacement.ReplaceAsync(spool ?? input, quarantineSource: null, requireEnvelopeOrState: true, ct);
            await audit.RecordAsync("state_restored", actor, result, ct);
            return result;
        }
        finally
        {
            if (spool is not null)
            {
                await spool.DisposeAsync();
            }
        }
    }

    private static FileStream TempFile() =>
        new(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 64 * 1024, FileOptions.DeleteOnClose | FileOptions.Asynchronous);

    public async Task<RestoreResult?> RestoreBackupAsync(string backupId, string actor, CancellationToken ct)
    {
        if (await store.FindAsync(backupId, ct) is null)
        {
            return null;
        }
        // Spool the stored envelope to a temporary file: the database store reads it over the same connection.
        await using var spool = TempFile();
        await store.CopyToAsync(backupId, spool, ct);
        spool.Position = 0;
        var result = await replacement.ReplaceAsync(spool, quarantineSource: null, requireEnvelopeOrState: true, ct);
        await audit.RecordAsync("state_restored", actor, new { backup_id = backupId, result.SignalCount, result.IntakeCount }, ct);
        return result;
    }
}
