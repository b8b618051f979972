namespace Agent33.Learning.Operations;

/// <summary>What a restore or an import did.</summary>
public sealed record RestoreResult(string Status, int SignalCount, int IntakeCount, int SignalIntakeMapCount, int Quarantined, string? Message = null);
