namespace Agent33.Learning.Domain;

/// <summary>A signal as the API answers it (the contract's fields).</summary>
public sealed record SignalView(
    string SignalId, DateTimeOffset RecordedAt, string SignalType, string Severity, string TenantId,
    string Summary, string Details, string Source, IReadOnlyDictionary<string, string> Context,
    double QualityScore, string QualityLabel, IReadOnlyList<string> QualityReasons, IReadOnlyDictionary<string, string> Enrichment,
    int OccurrenceCount, DateTimeOffset? FirstSeenAt, DateTimeOffset? LastSeenAt, bool IntakeGenerated, string? RelatedIntakeId)
{
    public static SignalView From(LearningSignal s) => new(
        s.SignalId, s.RecordedAt, s.SignalType, s.Severity, s.TenantId, s.Summary, s.Details, s.Source, s.Context,
        s.QualityScore, s.QualityLabel, s.QualityReasons, s.Enrichment, s.OccurrenceCount, s.FirstSeenAt, s.LastSeenAt,
        s.IntakeGenerated, s.RelatedIntakeId);
}
