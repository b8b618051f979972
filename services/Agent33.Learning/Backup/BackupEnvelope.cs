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
