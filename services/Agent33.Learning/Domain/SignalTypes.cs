namespace Agent33.Learning.Domain;

public static class SignalTypes
{
    public static readonly string[] Names = ["bug", "incident", "feedback", "performance", "security", "process"];

    public static bool IsValid(string? value) => value is not null && Names.Contains(value);
}
