using System.Collections.Frozen;
using Agent33.Gateway.Catalog;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The <c>operation</c> label of the gateway's metrics. Callers choose methods and labels, so the label set is bounded
/// here: an HTTP method, a method of the MCP specification, a label from the connector's configuration
/// (<c>Connectors:n:Operations</c>), or <c>other</c>.
/// </summary>
public static class OperationLabels
{
    public const string Other = "other";

    private static readonly FrozenSet<string> HttpMethods = new[]
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> McpMethods = new[]
    {
        "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
        "notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The label for one operation name.</summary>
    public static string For(string operation, ConnectorOptions connector)
    {
        if (HttpMethods.TryGetValue(operation, out var method))
        {
            return method;
        }
        if (McpMethods.TryGetValue(operation, out var mcp))
        {
            return mcp;
        }
        foreach (var label in connector.Operations)
        {
            if (label.Equals(operation, StringComparison.OrdinalIgnoreCase))
            {
                return label;
            }
        }
        return Other;
    }

    /// <summary>The labels a connector's series start with, at zero, so dashboards and alerts see them before any call.</summary>
    public static IEnumerable<string> Initial(ConnectorOptions connector) =>
        (connector.Kind == "mcp" ? new[] { "tools/call", "tools/list" } : ["GET", "POST"]).Concat(connector.Operations);
}
