namespace Agent33.Learning.Backup;

/// <summary>The reference's versioned backup envelope and the contract's codes for what can be wrong with one.</summary>
public static class BackupEnvelope
{
    public const int CurrentFormatVersion = 1;

    public const string Invalid = "backup_invalid";
    public const string VersionMissing = "backup_version_missing";
    public const string VersionUnsupported = "backup_version_unsupported";
    public const string CountMismatch = "backup_count_mismatch";
    public const string ChecksumMismatch = "backup_checksum_mismatch";
    public const string NotFound = "backup_not_found";
}

/// <summary>A backup or legacy state that cannot be restored; <see cref="Code"/> is the contract's error code.</summary>
public sealed class BackupFormatException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>Receives a state's records as they stream out of an upload, a backup or a legacy store.</summary>
public interface IStateSink
{
    ValueTask AddSignalAsync(System.Text.Json.JsonElement signal, CancellationToken cancellationToken);

    ValueTask AddIntakeAsync(System.Text.Json.JsonElement intake, CancellationToken cancellationToken);

    ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken cancellationToken);

    ValueTask AddSnapshotAsync(System.Text.Json.JsonElement snapshot, CancellationToken cancellationToken);

    /// <summary>
    /// An element of <paramref name="section"/> larger than any record the service accepts: read past, never held
    /// whole; <paramref name="kept"/> is its beginning, hash and size.
    /// </summary>
    ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken cancellationToken);
}

/// <summary>What a read envelope (or raw legacy state) declared and contained.</summary>
public sealed record EnvelopeSummary(
    bool IsEnvelope,
    int? FormatVersion,
    string? CreatedAt,
    int SignalCount,
    int IntakeCount,
    int MapCount,
    int SnapshotCount,
    string Checksum,
    bool SawStateSection);
