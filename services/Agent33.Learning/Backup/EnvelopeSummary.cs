namespace Agent33.Learning.Backup;

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
