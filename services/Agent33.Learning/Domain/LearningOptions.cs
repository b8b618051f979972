using Microsoft.Extensions.Options;

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

/// <summary>How concurrent signal writes share one transaction, so one commit (one fsync) acknowledges many signals.</summary>
public sealed class GroupCommitOptions
{
    /// <summary>The most signals one transaction holds; more queued writes wait for the next one.</summary>
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long a transaction waits for more writes before it starts. 0 groups only the writes that queued while the
    /// previous transaction committed: an idle service commits a write at once, a busy one in batches that grow with the load.
    /// </summary>
    public int WaitMilliseconds { get; set; }
}

public sealed class BackupOptions
{
    /// <summary>The largest envelope or raw state <c>POST /restore</c> accepts (spooled to disk, never held in memory); over it: 413.</summary>
    public long MaxRestoreBytes { get; set; } = 2L * 1024 * 1024 * 1024;
}

public sealed class MigrationOptions
{
    /// <summary>A legacy store imported at start when the database holds no signals (the reference's <c>migrate_on_start</c>).</summary>
    public string? ImportOnStart { get; set; }

    /// <summary><c>reject</c> (default) or <c>quarantine</c>: what an import does with invalid records.</summary>
    public string OnCorruption { get; set; } = "reject";

    public bool Quarantines => OnCorruption == "quarantine";

    /// <summary>The largest legacy state <c>POST /migrations/import</c> accepts (streamed to disk, never held in memory); over it: 413.</summary>
    public long MaxImportBytes { get; set; } = 256L * 1024 * 1024;
}

public sealed class AutoIntakeOptions
{
    public bool Enabled { get; set; }
    public double MinQuality { get; set; } = 0.45;
    public string MinSeverity { get; set; } = "high";
    public int MaxItems { get; set; } = 3;
}

/// <summary>Normalises the named settings as the reference does before it checks them: trimmed and lower-cased.</summary>
internal sealed class LearningOptionsNormalization : IPostConfigureOptions<LearningOptions>
{
    public void PostConfigure(string? name, LearningOptions o)
    {
        o.AutoIntake.MinSeverity = Normalize(o.AutoIntake.MinSeverity);
        o.Migration.OnCorruption = Normalize(o.Migration.OnCorruption);
    }

    private static string Normalize(string? value) => (value ?? "").Trim().ToLowerInvariant();
}

/// <summary>Stops the service at start on settings the reference would reject, naming the setting.</summary>
internal sealed class LearningOptionsValidation : IValidateOptions<LearningOptions>
{
    public ValidateOptionsResult Validate(string? name, LearningOptions o)
    {
        var errors = new List<string>();
        if (o.AutoIntake.MinQuality is < 0 or > 1 || double.IsNaN(o.AutoIntake.MinQuality))
        {
            errors.Add($"Learning:AutoIntake:MinQuality must be between 0.0 and 1.0, not {o.AutoIntake.MinQuality}.");
        }
        if (o.AutoIntake.MaxItems < 1)
        {
            errors.Add($"Learning:AutoIntake:MaxItems must be at least 1, not {o.AutoIntake.MaxItems}.");
        }
        if (!Severities.TryParse(o.AutoIntake.MinSeverity, out _))
        {
            errors.Add($"Learning:AutoIntake:MinSeverity must be one of {string.Join(", ", Severities.Names)}, not '{o.AutoIntake.MinSeverity}'.");
        }
        if (o.DedupeWindowMinutes < 0)
        {
            errors.Add("Learning:DedupeWindowMinutes must not be negative.");
        }
        if (o.RetentionDays < 0)
        {
            errors.Add("Learning:RetentionDays must not be negative (0 keeps signals forever).");
        }
        if (o.MaxSignals < 1)
        {
            errors.Add("Learning:MaxSignals must be at least 1.");
        }
        if (o.MaxGeneratedIntakes < 0)
        {
            errors.Add("Learning:MaxGeneratedIntakes must not be negative.");
        }
        if (o.Migration.OnCorruption is not ("reject" or "quarantine"))
        {
            errors.Add($"Learning:Migration:OnCorruption must be reject or quarantine, not '{o.Migration.OnCorruption}'.");
        }
        if (o.Backups.MaxRestoreBytes < 1)
        {
            errors.Add("Learning:Backups:MaxRestoreBytes must be at least 1.");
        }
        if (o.Migration.MaxImportBytes < 1)
        {
            errors.Add("Learning:Migration:MaxImportBytes must be at least 1.");
        }
        if (o.PruneIntervalSeconds is < 1 or > 86_400)
        {
            errors.Add("Learning:PruneIntervalSeconds must be between 1 and 86400.");
        }
        if (o.RestoreWaitSeconds is < 1 or > 300)
        {
            errors.Add("Learning:RestoreWaitSeconds must be between 1 and 300.");
        }
        if (o.GroupCommit.MaxBatchSize is < 1 or > 1_000)
        {
            errors.Add("Learning:GroupCommit:MaxBatchSize must be between 1 and 1000.");
        }
        if (o.GroupCommit.WaitMilliseconds is < 0 or > 1_000)
        {
            errors.Add("Learning:GroupCommit:WaitMilliseconds must be between 0 and 1000.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
