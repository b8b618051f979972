using System.Text.RegularExpressions;

namespace Agent33.Learning.Backup;

/// <summary>A stored backup's metadata, as <c>POST /backups</c> and <c>GET /backups</c> report it.</summary>
public sealed record BackupInfo(
    string BackupId,
    DateTimeOffset CreatedAt,
    int SignalCount,
    int IntakeCount,
    int SignalIntakeMapCount,
    string ChecksumSha256,
    long SizeBytes);

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

public static partial class BackupIds
{
    public static string New() => "BK-" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Ids come from callers: only this exact shape is ever used as a key or file name.</summary>
    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    [GeneratedRegex("^BK-[0-9a-f]{16}$")]
    private static partial Regex Pattern();
}
