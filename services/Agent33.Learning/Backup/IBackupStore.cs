namespace Agent33.Learning.Backup;

/// <summary>
/// Where backups live server-side (<c>Learning:Backups:Store</c> = <c>database</c> or <c>directory</c>);
/// callers name backups by id only, never by path. Contents stream in and out in chunks.
/// </summary>
public interface IBackupStore
{
    /// <summary>Stores the envelope <paramref name="writeEnvelope"/> writes; nothing is listed until it completes.</summary>
    Task<BackupInfo> SaveAsync(BackupInfo info, Func<Stream, CancellationToken, Task> writeEnvelope, CancellationToken cancellationToken);

    Task<IReadOnlyList<BackupInfo>> ListAsync(CancellationToken cancellationToken);

    Task<BackupInfo?> FindAsync(string backupId, CancellationToken cancellationToken);

    /// <summary>Copies the stored envelope to <paramref name="output"/>; false when there is no such backup.</summary>
    Task<bool> CopyToAsync(string backupId, Stream output, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string backupId, CancellationToken cancellationToken);
}
