namespace Agent33.Learning.Domain;

/// <summary>The learning service's persistence and auto-intake policy (<c>Learning:*</c>), the reference's defaults.</summary>
public sealed class LearningOptions
{
    public const string Section = "Learning";

    /// <summary>A signal repeating one seen within this many minutes merges into it; 0 turns dedupe off.</summary>
    public int DedupeWindowMinutes { get; set; } = 30;

    /// <summary>Signals older than this many days are pruned; 0 keeps them.</summary>
    public int RetentionDays { get; set; } = 180;

    public int MaxSignals { get; set; } = 5_000;
    public int MaxGeneratedIntakes { get; set; } = 1_000;
    public AutoIntakeOptions AutoIntake { get; set; } = new();

    /// <summary>How often caps and retention are enforced (writes never scan the whole table).</summary>
    public int PruneIntervalSeconds { get; set; } = 2;

    public GroupCommitOptions GroupCommit { get; set; } = new();

    /// <summary>
    /// How long a signal write waits for a restore or import that is replacing the state (on any replica) before it
    /// is answered 503 <c>restore_in_progress</c> with <c>Retry-After</c>. Under the 3 s a service's signal post waits
    /// per attempt (<c>LearningServiceClient</c>), so a post is answered before its client gives up and retries it.
    /// </summary>
    public int RestoreWaitSeconds { get; set; } = 2;

    public MigrationOptions Migration { get; set; } = new();

    public BackupOptions Backups { get; set; } = new();
}
