namespace Agent33.Routing.Effort;

public static class EffortLevels
{
    public static readonly string[] Names = ["low", "medium", "high"];

    /// <summary>Exact lower-case names only, as the reference's enum accepts them.</summary>
    public static bool TryParse(string? value, out EffortLevel effort)
    {
        switch (value)
        {
            case "low": effort = EffortLevel.Low; return true;
            case "medium": effort = EffortLevel.Medium; return true;
            case "high": effort = EffortLevel.High; return true;
            default: effort = default; return false;
        }
    }

    public static string Name(this EffortLevel effort) => Names[(int)effort];

    public static string Name(this EffortSource source) => source switch
    {
        EffortSource.Request => "request",
        EffortSource.Policy => "policy",
        EffortSource.Heuristic => "heuristic",
        _ => "default",
    };
}
