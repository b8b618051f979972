using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agent33.Gateway.Mcp;

/// <summary>One JSON-RPC message of a request: its method and, for <c>tools/call</c>, the tool it calls and its arguments.</summary>
public sealed record McpMessage(string Method, string? Tool, JsonObject? Arguments = null);

/// <summary>What the gateway needs from an MCP (JSON-RPC) request: the messages, and the first id for an error.</summary>
public sealed record McpRequest(IReadOnlyList<McpMessage> Messages, JsonNode? FirstId, bool IsBatch)
{
    public const string ToolsCall = "tools/call";
    public const string ToolsList = "tools/list";

    private static readonly HashSet<string> ReadOnlyMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "initialize", "ping", ToolsList, "resources/list", "resources/templates/list", "resources/read", "prompts/list", "prompts/get",
    };

    public IEnumerable<string> Methods => Messages.Select(m => m.Method);

    /// <summary>Every method is read-only, so the call may be retried.</summary>
    public bool IsReadOnly => Messages.Count > 0 && Messages.All(m => ReadOnlyMethods.Contains(m.Method));

    /// <summary>The answer lists tools and must be filtered (any case: a server that ignores case answers it too).</summary>
    public bool ListsTools => Messages.Any(m => m.Method.Equals(ToolsList, StringComparison.OrdinalIgnoreCase));

    // Duplicate names are refused: the gateway and the MCP server must never read different methods or tools.
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// Parses a JSON-RPC message or a flat batch of them. Null when the body cannot be governed: not strict UTF-8
    /// JSON, not an object or a non-empty array of objects, a <c>method</c> that is not a string, or a
    /// <c>tools/call</c> whose <c>params.name</c> is not a string or whose <c>params.arguments</c> is not an object. A body with only responses has no messages.
    /// </summary>
    public static McpRequest? Parse(ReadOnlySpan<byte> body)
    {
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(body, documentOptions: Strict) switch
            {
                JsonObject message => Read([message], isBatch: false),
                JsonArray { Count: > 0 } batch when batch.All(e => e is JsonObject) => Read([.. batch.Cast<JsonObject>()], isBatch: true),
                _ => null,
            };
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

    private static McpRequest? Read(IReadOnlyList<JsonObject> batch, bool isBatch)
    {
        var messages = new List<McpMessage>(batch.Count);
        JsonNode? firstId = null;
        foreach (var message in batch)
        {
            firstId ??= message["id"]?.DeepClone();
            if (!message.TryGetPropertyValue("method", out var methodNode))
            {
                continue; // a response to the server (sampling, elicitation): nothing to judge
            }
            if (methodNode is not JsonValue method || !method.TryGetValue<string>(out var name))
            {
                return null;
            }
            string? tool = null;
            JsonObject? arguments = null;
            if (name.Equals(ToolsCall, StringComparison.OrdinalIgnoreCase))
            {
                if (message["params"] is not JsonObject parameters || parameters["name"] is not JsonValue toolName || !toolName.TryGetValue(out tool))
                {
                    return null;
                }
                // Arguments that are neither absent nor an object cannot be judged by argument rules: refused as ungovernable.
                arguments = parameters["arguments"] as JsonObject;
                if (arguments is null && parameters["arguments"] is not null)
                {
                    return null;
                }
            }
            messages.Add(new McpMessage(name, tool, arguments));
        }
        return new McpRequest(messages, firstId, isBatch);
    }

    /// <summary>A JSON-RPC error for an MCP caller, next to the problem document's fields.</summary>
    public JsonObject Error(string message) => new()
    {
        ["jsonrpc"] = "2.0",
        ["id"] = FirstId?.DeepClone(),
        ["error"] = new JsonObject { ["code"] = -32001, ["message"] = message },
    };
}
