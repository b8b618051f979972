namespace Agent33.Learning.Backup;

/// <summary>A backup or legacy state that cannot be restored; <see cref="Code"/> is the contract's error code.</summary>
public sealed class BackupFormatException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
