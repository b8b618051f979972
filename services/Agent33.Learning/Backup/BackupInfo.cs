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
