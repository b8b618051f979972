using Agent33.Learning.Domain;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Agent33.Learning.Persistence;

/// <summary>
/// The learning schema: one row per signal, generated intake, signal→intake link and metrics snapshot,
/// so a write touches a handful of rows whatever the stored count (the reference rewrote its whole state).
/// </summary>
public sealed class LearningDbContext(DbContextOptions<LearningDbContext> options) : DbContext(options)
{
    public DbSet<LearningSignal> Signals => Set<LearningSignal>();
    public DbSet<GeneratedIntake> Intakes => Set<GeneratedIntake>();
    public DbSet<SignalIntakeLink> SignalIntakeMap => Set<SignalIntakeLink>();
    public DbSet<MetricsSnapshotRecord> MetricsSnapshots => Set<MetricsSnapshotRecord>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<BackupRecord> Backups => Set<BackupRecord>();
    public DbSet<QuarantinedRecord> Quarantine => Set<QuarantinedRecord>();
    public DbSet<ImportRun> ImportRuns => Set<ImportRun>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<LearningSignal>(e =>
        {
            e.ToTable("learning_signals");
            e.HasKey(x => x.SignalId);
            e.Property(x => x.SignalId).HasColumnName("signal_id").HasMaxLength(64);
            e.Property(x => x.RecordedAt).HasColumnName("recorded_at");
            e.Property(x => x.SignalType).HasColumnName("signal_type").HasMaxLength(16);
            e.Property(x => x.Severity).HasColumnName("severity").HasMaxLength(16);
            e.Property(x => x.SeverityRank).HasColumnName("severity_rank");
            e.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            e.Property(x => x.Summary).HasColumnName("summary");
            e.Property(x => x.Details).HasColumnName("details");
            e.Property(x => x.Source).HasColumnName("source");
            JsonColumn.Map(e.Property(x => x.Context)).HasColumnName("context").HasColumnType("jsonb");
            e.Property(x => x.QualityScore).HasColumnName("quality_score");
            e.Property(x => x.QualityLabel).HasColumnName("quality_label").HasMaxLength(16);
            JsonColumn.Map(e.Property(x => x.QualityReasons)).HasColumnName("quality_reasons").HasColumnType("jsonb");
            JsonColumn.Map(e.Property(x => x.Enrichment)).HasColumnName("enrichment").HasColumnType("jsonb");
            e.Property(x => x.OccurrenceCount).HasColumnName("occurrence_count");
            e.Property(x => x.FirstSeenAt).HasColumnName("first_seen_at");
            e.Property(x => x.LastSeenAt).HasColumnName("last_seen_at");
            e.Property(x => x.IntakeGenerated).HasColumnName("intake_generated");
            e.Property(x => x.RelatedIntakeId).HasColumnName("related_intake_id").HasMaxLength(64);
            e.Property(x => x.Fingerprint).HasColumnName("fingerprint").HasMaxLength(64);
            e.HasIndex(x => new { x.TenantId, x.RecordedAt });
            e.HasIndex(x => new { x.Fingerprint, x.RecordedAt });
            e.HasIndex(x => new { x.RecordedAt, x.SignalId });
        });
        modelBuilder.Entity<GeneratedIntake>(e =>
        {
            e.ToTable("generated_intakes");
            e.HasKey(x => x.IntakeId);
            e.Property(x => x.IntakeId).HasColumnName("intake_id").HasMaxLength(64);
            e.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            e.Property(x => x.GeneratedFromSignalId).HasColumnName("generated_from_signal_id").HasMaxLength(64);
            e.Property(x => x.SubmittedAt).HasColumnName("submitted_at");
            e.Property(x => x.Document).HasColumnName("document").HasColumnType("jsonb");
            e.HasIndex(x => new { x.TenantId, x.SubmittedAt });
            e.HasIndex(x => new { x.SubmittedAt, x.IntakeId });
            e.HasIndex(x => x.GeneratedFromSignalId);
        });
        modelBuilder.Entity<SignalIntakeLink>(e =>
        {
            e.ToTable("signal_intake_map");
            e.HasKey(x => x.SignalId);
            e.Property(x => x.SignalId).HasColumnName("signal_id").HasMaxLength(64);
            e.Property(x => x.IntakeId).HasColumnName("intake_id").HasMaxLength(64);
            e.HasIndex(x => x.IntakeId);
        });
        modelBuilder.Entity<MetricsSnapshotRecord>(e =>
        {
            e.ToTable("metrics_snapshots");
            e.HasKey(x => x.SnapshotId);
            e.Property(x => x.SnapshotId).HasColumnName("snapshot_id").HasMaxLength(64);
            e.Property(x => x.Position).HasColumnName("position");
            e.Property(x => x.Document).HasColumnName("document").HasColumnType("jsonb");
            e.HasIndex(x => x.Position);
        });
        modelBuilder.Entity<AuditEvent>(e =>
        {
            e.ToTable("audit_events");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id").UseIdentityAlwaysColumn();
            e.Property(x => x.OccurredAt).HasColumnName("occurred_at");
            e.Property(x => x.Kind).HasColumnName("kind").HasMaxLength(64);
            e.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            e.Property(x => x.Actor).HasColumnName("actor").HasMaxLength(128);
            e.Property(x => x.Details).HasColumnName("details").HasColumnType("jsonb");
            e.HasIndex(x => x.OccurredAt);
        });
        modelBuilder.ApplyConfiguration(new BackupRecordConfiguration());
        modelBuilder.ApplyConfiguration(new BackupChunkConfiguration());
        modelBuilder.ApplyConfiguration(new QuarantinedRecordConfiguration());
        modelBuilder.ApplyConfiguration(new ImportRunConfiguration());
    }
}

/// <summary>A research intake generated from a signal; <see cref="Document"/> is the reference's intake model as JSON.</summary>
public sealed class GeneratedIntake
{
    public string IntakeId { get; set; } = "";
    public string TenantId { get; set; } = "default";
    public string? GeneratedFromSignalId { get; set; }
    public DateTimeOffset SubmittedAt { get; set; }
    public string Document { get; set; } = "{}";
}

/// <summary>The idempotency link: a signal produces at most one intake.</summary>
public sealed class SignalIntakeLink
{
    public string SignalId { get; set; } = "";
    public string IntakeId { get; set; } = "";
}

/// <summary>An improvement-metrics snapshot, kept verbatim in its original order.</summary>
public sealed class MetricsSnapshotRecord
{
    public string SnapshotId { get; set; } = "";
    public long Position { get; set; }
    public string Document { get; set; } = "{}";
}

/// <summary>Something an operator must be able to trace later: an import, a restore, a quarantined record.</summary>
public sealed class AuditEvent
{
    public long Id { get; set; }
    public DateTimeOffset OccurredAt { get; set; }
    public string Kind { get; set; } = "";
    public string? TenantId { get; set; }
    public string? Actor { get; set; }
    public string Details { get; set; } = "{}";
}

/// <summary>Small collections stored as jsonb documents.</summary>
internal static class JsonColumn
{
    public static PropertyBuilder<T> Map<T>(PropertyBuilder<T> property) where T : class, new() =>
        property.HasConversion(
            v => Write(v),
            v => Read<T>(v),
            new ValueComparer<T>((a, b) => Write(a!) == Write(b!), v => Write(v).GetHashCode(StringComparison.Ordinal), v => Read<T>(Write(v))));

    public static string Write<T>(T value) => JsonSerializer.Serialize(value);

    public static T Read<T>(string json) where T : class, new() => JsonSerializer.Deserialize<T>(json) ?? new T();
}
