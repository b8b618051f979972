namespace Agent33.Learning.Domain;

public sealed record CalibrationReport(
    string? TenantId, int WindowDays, int TargetAutoIntakesPerWindow, int SampleSignals, int SampleOccurrences,
    double ObservedDailyOccurrenceRate, double ObservedAverageQualityScore, double ObservedQualityP75, double ObservedQualityP90,
    double ObservedHighOrCriticalRatio, double RecommendedAutoIntakeMinQuality, string RecommendedAutoIntakeMinSeverity,
    int RecommendedAutoIntakeMaxItems, int RecommendedRetentionDays, IReadOnlyDictionary<string, object?> PolicySnapshot,
    IReadOnlyList<string> Rationale, DateTimeOffset GeneratedAt);
