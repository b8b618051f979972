using System.Text.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// Backups as files in the configured <c>Learning:Backups:Directory</c>: <c>&lt;id&gt;.json</c> (the envelope)
/// and <c>&lt;id&gt;.meta.json</c>. Both are written to a temporary name first and renamed, so a crash never
/// leaves a half-written backup that looks complete.
/// </summary>
public sealed class DirectoryBackupStore(string directory) : IBackupStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async Task<BackupInfo> SaveAsync(BackupInfo info, Func<Stream, CancellationToken, Task> writeEnvelope, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var envelope = EnvelopePath(info.BackupId);
        var partial = envelope + ".partial";
        try
        {
            await using (var file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                await writeEnvelope(file, cancellationToken);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }
            var stored = info with { SizeBytes = new FileInfo(partial).Length };
            var metaPartial = MetaPath(info.BackupId) + ".partial";
            await File.WriteAllTextAsync(metaPartial, JsonSerializer.Serialize(stored, Json), cancellationToken);
            File.Move(partial, envelope);
            File.Move(metaPartial, MetaPath(info.BackupId));
            return stored;
        }
        finally
        {
            File.Delete(partial);
            File.Delete(MetaPath(info.BackupId) + ".partial");
        }
    }

    public async Task<IReadOnlyList<BackupInfo>> ListAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }
        var backups = new List<BackupInfo>();
        foreach (var meta in Directory.EnumerateFiles(directory, "BK-*.meta.json"))
        {
            if (await ReadMetaAsync(meta, cancellationToken) is { } info && File.Exists(EnvelopePath(info.BackupId)))
            {
                backups.Add(info);
            }
        }
        return [.. backups.OrderByDescending(b => b.CreatedAt)];
    }

    public async Task<BackupInfo?> FindAsync(string backupId, CancellationToken cancellationToken) =>
        BackupIds.IsValid(backupId) && File.Exists(EnvelopePath(backupId))
            ? await ReadMetaAsync(MetaPath(backupId), cancellationToken)
            : null;

    public async Task<bool> CopyToAsync(string backupId, Stream output, CancellationToken cancellationToken)
    {
        if (!BackupIds.IsValid(backupId) || !File.Exists(EnvelopePath(backupId)))
        {
            return false;
        }
        await using var file = new FileStream(EnvelopePath(backupId), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await file.CopyToAsync(output, cancellationToken);
        return true;
    }

    public Task<bool> DeleteAsync(string backupId, CancellationToken cancellationToken)
    {
        if (!BackupIds.IsValid(backupId) || !File.Exists(EnvelopePath(backupId)))
        {
            return Task.FromResult(false);
        }
        File.Delete(MetaPath(backupId));
        File.Delete(EnvelopePath(backupId));
        return Task.FromResult(true);
    }

    private string EnvelopePath(string backupId) => Path.Combine(directory, $"{backupId}.json");

    private string MetaPath(string backupId) => Path.Combine(directory, $"{backupId}.meta.json");

    private static async Task<BackupInfo?> ReadMetaAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return JsonSerializer.Deserialize<BackupInfo>(await File.ReadAllTextAsync(path, cancellationToken), Json);
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return null; // an unreadable metadata file is not a backup this store lists
        }
    }
}
