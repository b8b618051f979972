namespace Agent33.Learning.Domain;

public sealed record TrendCategory(
    string Key, int CurrentSignals, int PreviousSignals, int SignalDelta,
    int CurrentOccurrences, int PreviousOccurrences, int OccurrenceDelta, string Direction);
