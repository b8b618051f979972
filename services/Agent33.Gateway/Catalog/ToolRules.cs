namespace Agent33.Gateway.Catalog;

public sealed class ToolRules
{
    public List<string> Allow { get; set; } = [];
    public List<string> Deny { get; set; } = [];

    /// <summary>Rules on the arguments of the tools they name, judged in order; the first that refuses a call names the denial.</summary>
    public List<ArgumentRule> Arguments { get; set; } = [];

    /// <summary>The first argument rule that refuses a call of <paramref name="tool"/>, or null.</summary>
    public ArgumentRule? RefusingRule(string tool, System.Text.Json.Nodes.JsonObject? arguments) =>
        Arguments.FirstOrDefault(rule => rule.Refuses(tool, arguments));

    /// <summary>
    /// A tool may run when no deny glob matches it in any case (so <c>Delete_Records</c> cannot slip past
    /// <c>delete_*</c> on a server that ignores case) and, when allow globs are set, one matches it exactly as written.
    /// </summary>
    public bool Allows(string tool) =>
        !Deny.Any(glob => Glob.Matches(glob, tool, ignoreCase: true))
        && (Allow.Count == 0 || Allow.Any(glob => Glob.Matches(glob, tool, ignoreCase: false)));
}
