namespace Agent33.Learning.Domain;

public sealed record TrendReport(
    string? TenantId, int WindowDays, string Dimension, DateTimeOffset WindowStartAt, DateTimeOffset PreviousWindowStartAt,
    int TotalCurrentSignals, int TotalPreviousSignals, int TotalCurrentOccurrences, int TotalPreviousOccurrences,
    IReadOnlyList<TrendCategory> Categories, DateTimeOffset GeneratedAt);
