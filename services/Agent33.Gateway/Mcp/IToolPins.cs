using System.Text.Json.Nodes;

namespace Agent33.Gateway.Mcp;

/// <summary>
/// Pinned tool definitions: what a server lists is judged against the definition approved before, so a server that
/// changes a tool after review (a "rug pull") cannot slip the change past the gateway. Every door that lists or calls
/// MCP tools (<c>/connectors/{mcp-id}</c> and <c>/mcp</c>) asks this one place.
/// </summary>
public interface IToolPins
{
    /// <summary>
    /// The tools of one connector's <c>tools/list</c> answer that may be shown (each a tool object as MCP lists it);
    /// tools seen for the first time are pinned, changed ones withheld (or only reported, as <c>Mcp:Pinning</c> says).
    /// </summary>
    /// <summary>False when pinning is off: the listing path then need not read a list's tools for this judge at all.</summary>
    bool Judges => true;

    ValueTask<IReadOnlyList<JsonObject>> FilterAsync(string connector, IReadOnlyList<JsonObject> tools, CancellationToken cancellationToken);

    /// <summary>Why a <c>tools/call</c> of <paramref name="tool"/> must be refused (its definition changed and is not approved), or null.</summary>
    ValueTask<string?> RefuseCallAsync(string connector, string tool, CancellationToken cancellationToken);
}
