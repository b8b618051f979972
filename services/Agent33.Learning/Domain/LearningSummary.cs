namespace Agent33.Learning.Domain;

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
