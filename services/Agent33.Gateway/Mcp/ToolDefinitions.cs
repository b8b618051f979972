using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agent33.Gateway.Mcp;

/// <summary>A tool's pinned definition: its canonical JSON and that text's SHA-256 (lower-case hex).</summary>
public sealed record ToolDefinition(string Name, string Canonical, string Hash);

/// <summary>One difference between an approved and a pending definition, at a JSON pointer.</summary>
/// <param name="Change"><c>added</c>, <c>removed</c> or <c>changed</c>.</param>
public sealed record DefinitionChange(string Path, string Change, JsonNode? Approved, JsonNode? Pending);

/// <summary>
/// What of a listed tool is pinned, and in which form. The hash covers <c>name</c>, <c>title</c>, <c>description</c>,
/// <c>inputSchema</c>, <c>outputSchema</c> and <c>annotations</c>: everything a model reads to decide to call a tool and
/// everything a client shows a person who consents to it. <c>title</c> is in because clients show it in tool pickers
/// and consent prompts, so a changed title misleads as a changed description does (its older place,
/// <c>annotations.title</c>, is hashed with the annotations anyway). <c>_meta</c> is out: the protocol reserves it for
/// implementation metadata outside the tool's contract, which servers and SDKs may vary from one answer to the next,
/// and a pin that changes without a real change teaches operators to approve blindly. Every other field (e.g.
/// <c>icons</c>, <c>execution</c>) is out as well.
/// </summary>
/// <remarks>
/// The canonical form is JSON without insignificant whitespace, object keys sorted by ordinal (at every depth), arrays
/// in their order, strings by their decoded value, numbers by their value (<c>1.0</c> and <c>1</c> are one number, as
/// JSON Schema reads them), and a top-level field that is null the same as one left out. So a server that reorders
/// keys, re-indents or re-escapes its answer has not changed its tools.
/// </remarks>
public static class ToolDefinitions
{
    public static readonly IReadOnlyList<string> HashedFields = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <summary>The tool's pinned definition, or null when it cannot be read (no string name, a value that is not Unicode text).</summary>
    public static ToolDefinition? TryOf(JsonObject tool)
    {
        if (tool["name"] is not JsonValue nameNode || nameNode.GetValueKind() != JsonValueKind.String)
        {
            return null;
        }
        try
        {
            var name = nameNode.GetValue<string>();
            var pinned = new JsonObject();
            foreach (var field in HashedFields)
            {
                if (tool[field] is { } value && value.GetValueKind() != JsonValueKind.Null)
                {
                    pinned[field] = value.DeepClone();
                }
            }
            var canonical = Canonical(pinned);
            return new ToolDefinition(name, canonical, Hash(canonical));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or JsonException)
        {
            return null; // e.g. half a surrogate pair: not text the gateway can judge
        }
    }

    /// <summary>The canonical JSON text of <paramref name="node"/>.</summary>
    public static string Canonical(JsonNode? node)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
        {
            Write(writer, node);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string Hash(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    private static void Write(Utf8JsonWriter writer, JsonNode? node)
    {
        switch (node)
        {
            case null:
                writer.WriteNullValue();
                return;
            case JsonObject entries:
                writer.WriteStartObject();
                foreach (var (key, value) in entries.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(key);
                    Write(writer, value);
                }
                writer.WriteEndObject();
                return;
            case JsonArray items:
                writer.WriteStartArray();
                foreach (var item in items)
                {
                    Write(writer, item);
                }
                writer.WriteEndArray();
                return;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        writer.WriteStringValue(value.GetValue<string>());
                        return;
                    case JsonValueKind.True:
                        writer.WriteBooleanValue(true);
                        return;
                    case JsonValueKind.False:
                        writer.WriteBooleanValue(false);
                        return;
                    case JsonValueKind.Number:
                        WriteNumber(writer, value.ToJsonString());
                        return;
                    default:
                        writer.WriteNullValue();
                        return;
                }
        }
    }

    /// <summary>A number by its value: trailing zeros and exponents normalised; one too large for a decimal stays as written.</summary>
    private static void WriteNumber(Utf8JsonWriter writer, string raw)
    {
        if (decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            // Dividing by 1 with 28 zeros drops a decimal's trailing zeros (its scale), so 1.50 and 1.5 write alike.
            writer.WriteNumberValue(number / 1.0000000000000000000000000000m);
            return;
        }
        writer.WriteRawValue(raw);
    }

    /// <summary>
    /// Where two definitions differ, field by field: objects are followed key by key, anything else (an array, a value,
    /// a change of type) is one difference. Paths are JSON pointers into the tool (<c>/inputSchema/properties/q/description</c>).
    /// </summary>
    public static IReadOnlyList<DefinitionChange> Diff(string approvedCanonical, string pendingCanonical)
    {
        var changes = new List<DefinitionChange>();
        Compare("", JsonNode.Parse(approvedCanonical), JsonNode.Parse(pendingCanonical), changes);
        return changes;
    }

    private static void Compare(string path, JsonNode? approved, JsonNode? pending, List<DefinitionChange> changes)
    {
        if (approved is JsonObject before && pending is JsonObject after)
        {
            foreach (var key in before.Select(p => p.Key).Union(after.Select(p => p.Key)).Order(StringComparer.Ordinal))
            {
                var inBefore = before.TryGetPropertyValue(key, out var was);
                var inAfter = after.TryGetPropertyValue(key, out var now);
                var at = $"{path}/{key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal)}";
                if (!inAfter)
                {
                    changes.Add(new DefinitionChange(at, "removed", was?.DeepClone(), null));
                }
                else if (!inBefore)
                {
                    changes.Add(new DefinitionChange(at, "added", null, now?.DeepClone()));
                }
                else
                {
                    Compare(at, was, now, changes);
                }
            }
            return;
        }
        if (!JsonNode.DeepEquals(approved, pending))
        {
            changes.Add(new DefinitionChange(path, "changed", approved?.DeepClone(), pending?.DeepClone()));
        }
    }
}
