namespace Agent33.Learning.Domain;

public sealed class MigrationOptions
{
    /// <summary>A legacy store imported at start when the database holds no signals (the reference's <c>migrate_on_start</c>).</summary>
    public string? ImportOnStart { get; set; }

    /// <summary><c>reject</c> (default) or <c>quarantine</c>: what an import does with invalid records.</summary>
    public string OnCorruption { get; set; } = "reject";

    public bool Quarantines => OnCorruption == "quarantine";

    /// <summary>The largest legacy state <c>POST /migrations/import</c> accepts (streamed to disk, never held in memory); over it: 413.</summary>
    public long MaxImportBytes { get; set; } = 256L * 1024 * 1024;
}
