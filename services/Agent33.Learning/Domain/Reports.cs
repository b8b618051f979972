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

/// <summary>What <c>POST /signals</c> accepts once validated.</summary>
public sealed record SignalInput(string SignalType, string Severity, string Summary, string Details, string Source, Dictionary<string, string> Context);

public sealed record LearningSummary(
    int TotalSignals,
    Dictionary<string, int> CountsByType,
    Dictionary<string, int> CountsBySeverity,
    Dictionary<string, int> CountsByTenant,
    DateTimeOffset? LatestRecordedAt,
    double AverageQualityScore,
    int HighQualitySignals,
    string? TenantId,
    int? WindowDays,
    DateTimeOffset? WindowStartAt,
    int? PreviousWindowTotal,
    int? TrendDelta,
    string TrendDirection,
    DateTimeOffset GeneratedAt);

public sealed record TrendCategory(
    string Key, int CurrentSignals, int PreviousSignals, int SignalDelta,
    int CurrentOccurrences, int PreviousOccurrences, int OccurrenceDelta, string Direction);

public sealed record TrendReport(
    string? TenantId, int WindowDays, string Dimension, DateTimeOffset WindowStartAt, DateTimeOffset PreviousWindowStartAt,
    int TotalCurrentSignals, int TotalPreviousSignals, int TotalCurrentOccurrences, int TotalPreviousOccurrences,
    IReadOnlyList<TrendCategory> Categories, DateTimeOffset GeneratedAt);

public sealed record CalibrationReport(
    string? TenantId, int WindowDays, int TargetAutoIntakesPerWindow, int SampleSignals, int SampleOccurrences,
    double ObservedDailyOccurrenceRate, double ObservedAverageQualityScore, double ObservedQualityP75, double ObservedQualityP90,
    double ObservedHighOrCriticalRatio, double RecommendedAutoIntakeMinQuality, string RecommendedAutoIntakeMinSeverity,
    int RecommendedAutoIntakeMaxItems, int RecommendedRetentionDays, IReadOnlyDictionary<string, object?> PolicySnapshot,
    IReadOnlyList<string> Rationale, DateTimeOffset GeneratedAt);
