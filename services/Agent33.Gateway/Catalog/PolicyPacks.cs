namespace Agent33.Gateway.Catalog;

/// <summary>
/// The three governance packs. A pack's blocks are unioned with <c>Governance:BlockedConnectors</c> and
/// <c>Governance:BlockedOperations</c>; a connector's own pack replaces the global one for that connector.
/// </summary>
public static class PolicyPacks
{
    public const string Default = "default";
    public const string StrictWeb = "strict-web";
    public const string McpReadOnly = "mcp-readonly";

    public static readonly string[] Names = [Default, StrictWeb, McpReadOnly];

    private static readonly Dictionary<string, (string[] Connectors, string[] Operations)> Blocks = new(StringComparer.Ordinal)
    {
        [Default] = ([], []),
        [StrictWeb] = (["tool:web_fetch", "workflow:http_request", "search:searxng", "tool:reader"], []),
        [McpReadOnly] = ([], ["tools/call"]),
    };

    public static bool IsKnown(string? name) => name is not null && Blocks.ContainsKey(name);

    public static (string[] Connectors, string[] Operations) BlocksOf(string pack) => Blocks[pack];
}
