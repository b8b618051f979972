namespace Agent33.Learning.Domain;

/// <summary>What <c>POST /signals</c> accepts once validated.</summary>
public sealed record SignalInput(string SignalType, string Severity, string Summary, string Details, string Source, Dictionary<string, string> Context);
