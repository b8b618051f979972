using Microsoft.Extensions.Options;

namespace Agent33.Learning.Domain;

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
