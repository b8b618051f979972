namespace Agent33.Learning.Domain;

public sealed class BackupOptions
{
    /// <summary>The largest envelope or raw state <c>POST /restore</c> accepts (spooled to disk, never held in memory); over it: 413.</summary>
    public long MaxRestoreBytes { get; set; } = 2L * 1024 * 1024 * 1024;
}
