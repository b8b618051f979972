using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Agent33.Learning.Persistence;

/// <summary>A stored backup (its envelope is in <see cref="BackupChunk"/> rows).</summary>
public sealed class BackupRecord
{
    public string BackupId { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public int SignalCount { get; set; }
    public int IntakeCount { get; set; }
    public int SignalIntakeMapCount { get; set; }
    public string ChecksumSha256 { get; set; } = "";
    public long SizeBytes { get; set; }
}

public sealed class BackupChunk
{
    public string BackupId { get; set; } = "";
    public int Seq { get; set; }
    public byte[] Data { get; set; } = [];
}

/// <summary>A record or payload that could not be imported, kept (its beginning, hash and size) with why and where it came from.</summary>
public sealed class QuarantinedRecord
{
    public long Id { get; set; }
    public DateTimeOffset QuarantinedAt { get; set; }
    public string Source { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Reason { get; set; } = "";
    /// <summary>The beginning of the record or payload (at most 64 KiB of UTF-8); the whole is identified by the hash.</summary>
    public string Payload { get; set; } = "";
    public string PayloadSha256 { get; set; } = "";
    public long PayloadBytes { get; set; }
    public bool PayloadTruncated { get; set; }
    public long? ImportRunId { get; set; }
}

/// <summary>One legacy import: what it read, what it wrote, how it ended.</summary>
public sealed class ImportRun
{
    public long Id { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public string SourceKind { get; set; } = "";
    public string Source { get; set; } = "";
    public string SourceChecksum { get; set; } = "";
    public string Status { get; set; } = "";
    public bool Forced { get; set; }
    public int SignalsImported { get; set; }
    public int IntakesImported { get; set; }
    public int MapEntriesImported { get; set; }
    public int SnapshotsImported { get; set; }
    public int Quarantined { get; set; }
    public string? Message { get; set; }
}

internal sealed class BackupRecordConfiguration : IEntityTypeConfiguration<BackupRecord>
{
    public void Configure(EntityTypeBuilder<BackupRecord> e)
    {
        e.ToTable("backups");
        e.HasKey(x => x.BackupId);
        e.Property(x => x.BackupId).HasColumnName("backup_id").HasMaxLength(32);
        e.Property(x => x.CreatedAt).HasColumnName("created_at");
        e.Property(x => x.SignalCount).HasColumnName("signal_count");
        e.Property(x => x.IntakeCount).HasColumnName("intake_count");
        e.Property(x => x.SignalIntakeMapCount).HasColumnName("signal_intake_map_count");
        e.Property(x => x.ChecksumSha256).HasColumnName("checksum_sha256").HasMaxLength(64);
        e.Property(x => x.SizeBytes).HasColumnName("size_bytes");
        e.HasIndex(x => x.CreatedAt);
        e.HasMany<BackupChunk>().WithOne().HasForeignKey(c => c.BackupId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class BackupChunkConfiguration : IEntityTypeConfiguration<BackupChunk>
{
    public void Configure(EntityTypeBuilder<BackupChunk> e)
    {
        e.ToTable("backup_chunks");
        e.HasKey(x => new { x.BackupId, x.Seq });
        e.Property(x => x.BackupId).HasColumnName("backup_id").HasMaxLength(32);
        e.Property(x => x.Seq).HasColumnName("seq");
        e.Property(x => x.Data).HasColumnName("data");
    }
}

internal sealed class QuarantinedRecordConfiguration : IEntityTypeConfiguration<QuarantinedRecord>
{
    public void Configure(EntityTypeBuilder<QuarantinedRecord> e)
    {
        e.ToTable("quarantined_records");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        e.Property(x => x.QuarantinedAt).HasColumnName("quarantined_at");
        e.Property(x => x.Source).HasColumnName("source").HasMaxLength(1024);
        e.Property(x => x.Kind).HasColumnName("kind").HasMaxLength(32);
        e.Property(x => x.Reason).HasColumnName("reason");
        e.Property(x => x.Payload).HasColumnName("payload");
        e.Property(x => x.PayloadSha256).HasColumnName("payload_sha256").HasMaxLength(64);
        e.Property(x => x.PayloadBytes).HasColumnName("payload_bytes");
        e.Property(x => x.PayloadTruncated).HasColumnName("payload_truncated");
        e.Property(x => x.ImportRunId).HasColumnName("import_run_id");
        e.HasIndex(x => x.QuarantinedAt);
    }
}

internal sealed class ImportRunConfiguration : IEntityTypeConfiguration<ImportRun>
{
    public void Configure(EntityTypeBuilder<ImportRun> e)
    {
        e.ToTable("import_runs");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        e.Property(x => x.StartedAt).HasColumnName("started_at");
        e.Property(x => x.FinishedAt).HasColumnName("finished_at");
        e.Property(x => x.SourceKind).HasColumnName("source_kind").HasMaxLength(16);
        e.Property(x => x.Source).HasColumnName("source").HasMaxLength(1024);
        e.Property(x => x.SourceChecksum).HasColumnName("source_checksum").HasMaxLength(64);
        e.Property(x => x.Status).HasColumnName("status").HasMaxLength(32);
        e.Property(x => x.Forced).HasColumnName("forced");
        e.Property(x => x.SignalsImported).HasColumnName("signals_imported");
        e.Property(x => x.IntakesImported).HasColumnName("intakes_imported");
        e.Property(x => x.MapEntriesImported).HasColumnName("map_entries_imported");
        e.Property(x => x.SnapshotsImported).HasColumnName("snapshots_imported");
        e.Property(x => x.Quarantined).HasColumnName("quarantined");
        e.Property(x => x.Message).HasColumnName("message");
        e.HasIndex(x => x.StartedAt);
    }
}
