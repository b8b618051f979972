using System.Text.RegularExpressions;

namespace Agent33.Learning.Backup;

public static partial class BackupIds
{
    public static string New() => "BK-" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Ids come from callers: only this exact shape is ever used as a key or file name.</summary>
    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    [GeneratedRegex("^BK-[0-9a-f]{16}$")]
    private static partial Regex Pattern();
}
