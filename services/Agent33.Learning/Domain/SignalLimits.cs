namespace Agent33.Learning.Domain;

/// <summary>
/// How large a signal may be, wherever it comes from: <c>POST /signals</c>, a restored backup or an imported
/// legacy store. A record over a limit is refused (400, <c>backup_invalid</c>) or quarantined, never stored:
/// one oversized row would otherwise break every list, summary and backup that reads it.
/// </summary>
public static class SignalLimits
{
    public const int SummaryChars = 2_000;
    public const int DetailsChars = 20_000;
    public const int SourceChars = 500;
    public const int ContextEntries = 50;
    public const int ContextKeyChars = 100;
    public const int ContextValueChars = 2_000;

    /// <summary>Only restored records carry these; they are written by the scoring, which stays far below.</summary>
    public const int QualityReasons = 50;
    public const int QualityReasonChars = 100;

    /// <summary>A generated intake or a metrics snapshot, as raw JSON (an intake quotes its signal's summary and details).</summary>
    public const int DocumentBytes = 256 * 1024;

    public const string TooLong = "summary (2,000), details (20,000) or source (500 characters) is too long.";

    public const string ContextRule = "context holds at most 50 string entries (keys up to 100, values up to 2,000 characters).";

    /// <summary>Why a signal's text breaks a limit, or null when it fits.</summary>
    public static string? Check(string summary, string details, string source, IReadOnlyDictionary<string, string> context)
    {
        if (summary.Length > SummaryChars)
        {
            return $"summary is longer than 2,000 characters";
        }
        if (details.Length > DetailsChars)
        {
            return $"details is longer than 20,000 characters";
        }
        if (source.Length > SourceChars)
        {
            return $"source is longer than 500 characters";
        }
        return CheckMap("context", context);
    }

    /// <summary>The context rule, applied to any string map (a restored signal's enrichment too).</summary>
    public static string? CheckMap(string name, IReadOnlyDictionary<string, string> map)
    {
        if (map.Count > ContextEntries)
        {
            return $"{name} holds more than {ContextEntries} entries";
        }
        foreach (var (key, value) in map)
        {
            if (key.Length > ContextKeyChars)
            {
                return $"a {name} key is longer than {ContextKeyChars} characters";
            }
            if (value.Length > ContextValueChars)
            {
                return $"{name}.{key} is longer than 2,000 characters";
            }
        }
        return null;
    }
}
