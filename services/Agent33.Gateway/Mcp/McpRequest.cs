using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Mcp;

/// <summary>What the gateway needs from an MCP (JSON-RPC) request: the methods, the called tools, the ids.</summary>
public sealed record McpRequest(IReadOnlyList<string> Methods, IReadOnlyList<string> CalledTools, JsonNode? FirstId, bool IsList)
{
    private static readonly HashSet<string> ReadOnlyMethods = new(StringComparer.Ordinal)
    {
        "initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "resources/read", "prompts/list", "prompts/get",
    };

    /// <summary>Every method is read-only, so the call may be retried.</summary>
    public bool IsReadOnly => Methods.Count > 0 && Methods.All(ReadOnlyMethods.Contains);

    public bool ListsTools => Methods.Contains("tools/list");

    // Duplicate names are refused: the gateway and the MCP server must never read different methods or tools.
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// Parses a JSON-RPC message or batch. Null when the body is not a JSON object or array in UTF-8 read the
    /// strict way: such a body cannot be governed. A body with only responses has no methods.
    /// </summary>
    public static McpRequest? Parse(ReadOnlySpan<byte> body)
    {
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(body, documentOptions: Strict) is { } root and (JsonObject or JsonArray) ? Read(root) : null;
        }
        catch (JsonException)
        {
            return null;
        }
        catch (InvalidOperationException) // a string that is not Unicode text (half a surrogate pair) cannot be read
        {
            return null;
        }
    }

    private static McpRequest Read(JsonNode root)
    {
        var messages = root is JsonArray batch ? [.. batch.OfType<JsonObject>()] : new List<JsonObject> { (JsonObject)root };
        var methods = new List<string>();
        var tools = new List<string>();
        JsonNode? firstId = null;
        foreach (var message in messages)
        {
            if (message["method"] is JsonValue method && method.TryGetValue<string>(out var name))
            {
                methods.Add(name);
                if (name == "tools/call" && message["params"]?["name"] is JsonValue tool && tool.TryGetValue<string>(out var toolName))
                {
                    tools.Add(toolName);
                }
            }
            firstId ??= message["id"]?.DeepClone();
        }
        return new McpRequest(methods, tools, firstId, root is JsonArray);
    }

    /// <summary>A JSON-RPC error for an MCP caller, next to the problem document's fields.</summary>
    public JsonObject Error(string message) => new()
    {
        ["jsonrpc"] = "2.0",
        ["id"] = FirstId?.DeepClone(),
        ["error"] = new JsonObject { ["code"] = -32001, ["message"] = message },
    };

    /// <summary>
    /// Drops denied tools from a <c>tools/list</c> result, in a JSON body or in the <c>data:</c> lines of an
    /// event stream (the Streamable HTTP transport answers either way). Returns null when nothing changed.
    /// </summary>
    public static byte[]? FilterToolList(byte[] body, string? contentType, ToolRules rules)
    {
        if (rules.Allow.Count == 0 && rules.Deny.Count == 0)
        {
            return null;
        }
        var text = Encoding.UTF8.GetString(body);
        var changed = false;
        if (contentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true)
        {
            var lines = text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].StartsWith("data:", StringComparison.Ordinal) && FilterMessage(lines[i][5..].Trim(), rules) is { } filtered)
                {
                    lines[i] = "data: " + filtered;
                    changed = true;
                }
            }
            return changed ? Encoding.UTF8.GetBytes(string.Join('\n', lines)) : null;
        }
        return FilterMessage(text, rules) is { } json ? Encoding.UTF8.GetBytes(json) : null;
    }

    private static string? FilterMessage(string json, ToolRules rules)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
        var changed = false;
        foreach (var message in node is JsonArray batch ? batch.OfType<JsonObject>() : node is JsonObject one ? [one] : [])
        {
            if (message["result"]?["tools"] is JsonArray tools)
            {
                foreach (var tool in tools.OfType<JsonObject>().ToList())
                {
                    if (tool["name"] is JsonValue name && name.TryGetValue<string>(out var toolName) && !Governance.ToolAllowed(rules, toolName))
                    {
                        tools.Remove(tool);
                        changed = true;
                    }
                }
            }
        }
        return changed ? node!.ToJsonString() : null;
    }
}
