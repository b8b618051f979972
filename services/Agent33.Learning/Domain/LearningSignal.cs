using System.Security.Cryptography;
using System.Text;

namespace Agent33.Learning.Domain;

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
