using System.Security.Cryptography;
using System.Text;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Learning.Domain;

public static class SignalTypes
{
    public static readonly string[] Names = ["bug", "incident", "feedback", "performance", "security", "process"];

    public static bool IsValid(string? value) => value is not null && Names.Contains(value);
}

public static class Severities
{
    public static readonly string[] Names = ["low", "medium", "high", "critical"];

    /// <summary>1 (low) to 4 (critical), the reference's severity rank.</summary>
    public static bool TryParse(string? value, out int rank)
    {
        rank = Array.IndexOf(Names, value) + 1;
        return rank > 0;
    }

    public static int Rank(string severity) => Array.IndexOf(Names, severity) + 1;

    public static string FromRank(int rank) => Names[rank - 1];
}

/// <summary>A stored learning signal (one row of <c>learning_signals</c>).</summary>
public sealed class LearningSignal
{
    public string SignalId { get; set; } = "";
    public DateTimeOffset RecordedAt { get; set; }
    public string SignalType { get; set; } = "feedback";
    public string Severity { get; set; } = "medium";
    public int SeverityRank { get; set; } = 2;
    public string TenantId { get; set; } = "default";
    public string Summary { get; set; } = "";
    public string Details { get; set; } = "";
    public string Source { get; set; } = "";
    public Dictionary<string, string> Context { get; set; } = [];
    public double QualityScore { get; set; }
    public string QualityLabel { get; set; } = "low";
    public List<string> QualityReasons { get; set; } = [];
    public Dictionary<string, string> Enrichment { get; set; } = [];
    public int OccurrenceCount { get; set; } = 1;
    public DateTimeOffset? FirstSeenAt { get; set; }
    public DateTimeOffset? LastSeenAt { get; set; }
    public bool IntakeGenerated { get; set; }
    public string? RelatedIntakeId { get; set; }

    /// <summary>SHA-256 of (tenant, type, normalised summary, normalised source): what dedupe matches on.</summary>
    public string Fingerprint { get; set; } = "";

    /// <summary>A copy to merge into; shallow, as merging and scoring replace the collections rather than change them.</summary>
    public LearningSignal Copy() => (LearningSignal)MemberwiseClone();

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static string FingerprintOf(string tenant, string type, string summary, string source)
    {
        var text = string.Join('\u001f', tenant, type, Normalize(summary), Normalize(source));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary><c>" ".join(value.strip().lower().split())</c>.</summary>
    public static string Normalize(string value) =>
        string.Join(' ', value.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}

/// <summary>The reference's deterministic quality scoring and enrichment.</summary>
public static class QualityScoring
{
    private const double WeightSummary = 0.25;
    private const double WeightDetails = 0.20;
    private const double WeightSource = 0.10;
    private const double WeightContext = 0.10;
    private const double WeightSeverity = 0.35;

    public static void Apply(LearningSignal signal)
    {
        var summaryLength = CodePoints(signal.Summary.Trim());
        var detailsLength = CodePoints(signal.Details.Trim());
        var hasSource = signal.Source.Trim().Length > 0;
        var contextItems = signal.Context.Count;

        // Summed in the reference's order (summary, details, source, context, severity): float addition is not associative.
        var score = Math.Min(1.0, summaryLength / 80.0) * WeightSummary;
        score += Math.Min(1.0, detailsLength / 160.0) * WeightDetails;
        score += (hasSource ? 1.0 : 0.0) * WeightSource;
        score += Math.Min(1.0, contextItems / 5.0) * WeightContext;
        score += SeverityQuality(signal.Severity) * WeightSeverity;
        signal.QualityScore = PythonRound.Round(Math.Min(1.0, Math.Max(0.0, score)), 3);
        signal.QualityLabel = signal.QualityScore >= 0.70 ? "high" : signal.QualityScore >= 0.45 ? "medium" : "low";

        var reasons = new List<string>();
        if (summaryLength < 20)
        {
            reasons.Add("summary_too_short");
        }
        if (detailsLength == 0)
        {
            reasons.Add("details_missing");
        }
        if (!hasSource)
        {
            reasons.Add("source_missing");
        }
        if (contextItems == 0)
        {
            reasons.Add("context_missing");
        }
        signal.QualityReasons = reasons.Count > 0 ? reasons : ["well_formed_signal"];
        signal.Enrichment = new Dictionary<string, string>
        {
            ["has_source"] = hasSource ? "true" : "false",
            ["context_items"] = contextItems.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["summary_length"] = summaryLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["details_length"] = detailsLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    public static double SeverityQuality(string severity) => severity switch
    {
        "low" => 0.3,
        "medium" => 0.55,
        "high" => 0.8,
        "critical" => 1.0,
        _ => 0.5,
    };

    /// <summary>Python's <c>len()</c> of a str: code points.</summary>
    public static int CodePoints(string value)
    {
        var count = value.Length;
        foreach (var c in value)
        {
            if (char.IsLowSurrogate(c))
            {
                count--;
            }
        }
        return count;
    }
}
