using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Catalog;

namespace Agent33.Gateway.Mcp;

/// <summary>The tools of one <c>tools/list</c> answer that may be shown (a subset of <paramref name="tools"/>, in order): pinning's say.</summary>
public delegate ValueTask<IReadOnlyList<JsonObject>> ToolJudge(IReadOnlyList<JsonObject> tools, CancellationToken cancellationToken);

/// <summary>
/// Drops denied tools from a <c>tools/list</c> answer, in a JSON body or in the events of an event stream (the
/// Streamable HTTP transport answers either way; an event's data may span several <c>data:</c> lines), and then asks
/// a <see cref="ToolJudge"/> (pinned definitions) about the rest of the same parsed answer. It fails closed: an answer
/// it cannot read whole — not strict UTF-8 JSON, duplicate names, an event whose data is not JSON — is refused, never
/// passed on unfiltered; an exception of the judge reaches the caller.
/// </summary>
public static class ToolListFilter
{
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// The answer to send (the original bytes when no tool was dropped), or null when it cannot be judged: the rules
    /// first, then <paramref name="judge"/> on the tools they leave in each answer.
    /// </summary>
    public static async ValueTask<byte[]?> FilterAsync(byte[] body, string? contentType, ToolRules rules, ToolJudge? judge, CancellationToken cancellationToken)
    {
        if (rules.Allow.Count == 0 && rules.Deny.Count == 0 && judge is null)
        {
            return body;
        }
        var bytes = body.AsMemory();
        if (bytes.Span.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            return null;
        }
        var text = Encoding.UTF8.GetString(bytes.Span);
        var (filtered, changed) = contentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true
            ? await FilterEventsAsync(text, rules, judge, cancellationToken)
            : await FilterMessageAsync(text, rules, judge, cancellationToken);
        return filtered is null ? null : changed ? Encoding.UTF8.GetBytes(filtered) : body;
    }

    private static async ValueTask<(string? Events, bool Changed)> FilterEventsAsync(string stream, ToolRules rules, ToolJudge? judge, CancellationToken cancellationToken)
    {
        var output = new StringBuilder(stream.Length);
        var changed = false;
        var lines = stream.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
        var fields = new List<string>();
        var data = new List<string>();
        foreach (var line in lines.Append(""))
        {
            if (line.Length > 0)
            {
                if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    data.Add(line[5..].StartsWith(' ') ? line[6..] : line[5..]);
                }
                else
                {
                    fields.Add(line);
                }
                continue;
            }
            if (fields.Count == 0 && data.Count == 0)
            {
                continue;
            }
            // The end of an event: its data lines joined are one JSON-RPC message (or empty, e.g. a priming event).
            var joined = string.Join('\n', data);
            string? filtered = joined;
            if (joined.Length > 0)
            {
                (filtered, var eventChanged) = await FilterMessageAsync(joined, rules, judge, cancellationToken);
                if (filtered is null)
                {
                    return (null, false);
                }
                changed |= eventChanged;
            }
            foreach (var field in fields)
            {
                output.Append(field).Append('\n');
            }
            if (data.Count > 0)
            {
                output.Append("data: ").Append(filtered).Append('\n');
            }
            output.Append('\n');
            fields.Clear();
            data.Clear();
        }
        return (output.ToString(), changed);
    }

    private static async ValueTask<(string? Json, bool Changed)> FilterMessageAsync(string json, ToolRules rules, ToolJudge? judge, CancellationToken cancellationToken)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: Strict);
        }
        catch (JsonException)
        {
            return (null, false);
        }
        catch (InvalidOperationException)
        {
            return (null, false);
        }
        var messages = node switch
        {
            JsonArray batch => batch.ToList(),
            JsonObject one => [one],
            _ => [],
        };
        if (messages.Count == 0 || messages.Any(m => m is not JsonObject))
        {
            return (null, false);
        }
        var changed = false;
        foreach (var message in messages.Cast<JsonObject>())
        {
            if (message["result"] is not JsonObject result || !result.ContainsKey("tools"))
            {
                continue;
            }
            if (result["tools"] is not JsonArray tools)
            {
                return (null, false);
            }
            foreach (var tool in tools.ToList())
            {
                // A tool without a readable name cannot be judged: it is dropped.
                if (tool is not JsonObject entry || entry["name"] is not JsonValue name || !name.TryGetValue<string>(out var toolName)
                    || !rules.Allows(toolName))
                {
                    tools.Remove(tool);
                    changed = true;
                }
            }
            if (judge is not null && tools.Count > 0)
            {
                // The judge sees what the rules left (every one an object with a string name) and says what stays.
                var remaining = tools.Cast<JsonObject>().ToList();
                var shown = await judge(remaining, cancellationToken);
                if (shown.Count != remaining.Count || !shown.SequenceEqual(remaining, ReferenceEqualityComparer.Instance))
                {
                    tools.Clear();
                    foreach (var tool in shown)
                    {
                        tools.Add(tool.Parent is null ? tool : tool.DeepClone());
                    }
                    changed = true;
                }
            }
        }
        return (changed ? node!.ToJsonString() : json, changed);
    }
}
