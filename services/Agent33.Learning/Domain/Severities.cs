namespace Agent33.Learning.Domain;

public static class Severities
{
    public static readonly string[] Names = ["low", "medium", "high", "critical"];

    /// <summary>1 (low) to 4 (critical), the reference's severity rank.</summary>
    public static bool TryParse(string? value, out int rank)
    {
        rank = Array.IndexOf(Names, value) + 1;
        return rank > 0;
    }

    public static int Rank(string severity) => Array.IndexOf(Names, severity) + 1;

    public static string FromRank(int rank) => Names[rank - 1];
}
