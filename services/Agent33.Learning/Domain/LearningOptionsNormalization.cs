using Microsoft.Extensions.Options;

namespace Agent33.Learning.Domain;

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
