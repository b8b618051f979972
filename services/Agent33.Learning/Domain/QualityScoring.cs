using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Learning.Domain;

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
