namespace Agent33.Learning.Domain;

/// <summary>A state record the reference's model would not accept.</summary>
public sealed class InvalidRecordException(string message) : Exception(message);
