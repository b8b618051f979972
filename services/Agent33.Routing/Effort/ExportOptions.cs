namespace Agent33.Routing.Effort;

public sealed class ExportOptions
{
    /// <summary>JSONL file every decision is appended to; unset = no export.</summary>
    public string? Path { get; set; }

    /// <summary>When the export fails: false = answer the decision anyway (counted), true = 503 <c>export_failed</c>.</summary>
    public bool FailClosed { get; set; }
}
