using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>Reading and building the pieces of OpenAI chat completions that every translation shares.</summary>
public static class ChatShapes
{
    public static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    public static int? Int(JsonNode? node) => Integer(node) is >= int.MinValue and <= int.MaxValue and var n ? (int)n : null;

    public static long Long(JsonNode? node) => Integer(node) ?? 0;

    // A value the gateway set itself (the routed completion budget) holds an int, which TryGetValue<long> does not convert.
    private static long? Integer(JsonNode? node) =>
        node is not JsonValue v ? null : v.TryGetValue<long>(out var n) ? n : v.TryGetValue<int>(out var i) ? i : null;

    /// <summary>The text of a chat message's <c>content</c>: a string, or its text parts joined.</summary>
    public static string ContentText(JsonNode? content)
    {
        if (Text(content) is { } text)
        {
            return text;
        }
        var joined = new StringBuilder();
        foreach (var part in content as JsonArray ?? [])
        {
            if (Text(part?["text"]) is { } piece)
            {
                joined.Append(piece);
            }
        }
        return joined.ToString();
    }

    /// <summary>A function call's arguments (a JSON text) as an object, for formats that carry them as objects; anything else is refused.</summary>
    public static JsonObject Arguments(string? arguments, string tool)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            return [];
        }
        try
        {
            return JsonNode.Parse(arguments) as JsonObject ?? throw new InvalidLlmRequestException($"The arguments of the call to tool '{tool}' must be a JSON object.");
        }
        catch (JsonException)
        {
            throw new InvalidLlmRequestException($"The arguments of the call to tool '{tool}' are not valid JSON.");
        }
    }

    /// <summary>A function tool call as chat completions write it.</summary>
    public static JsonObject ToolCall(string id, string name, string arguments) => new()
    {
        ["id"] = id,
        ["type"] = "function",
        ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments },
    };

    /// <summary>A chat completion answer with one choice.</summary>
    public static JsonObject Answer(string id, string model, long created, string? content, JsonArray? toolCalls, string? finishReason, long? prompt, long? completion)
    {
        var message = new JsonObject { ["role"] = "assistant", ["content"] = content };
        if (toolCalls is { Count: > 0 })
        {
            message["tool_calls"] = toolCalls;
        }
        var answer = new JsonObject
        {
            ["id"] = id,
            ["object"] = "chat.completion",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finishReason }),
        };
        if (prompt is not null || completion is not null)
        {
            answer["usage"] = Usage(prompt ?? 0, completion ?? 0);
        }
        return answer;
    }

    public static JsonObject Usage(long prompt, long completion) =>
        new() { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion };

    /// <summary>A streamed chunk with one choice's delta (and a finish reason), as chat completions write it.</summary>
    public static JsonObject Chunk(string id, string model, long created, JsonObject? delta, string? finishReason = null) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta ?? [], ["finish_reason"] = finishReason }),
    };

    /// <summary>The usage-only chunk that ends a stream when <c>stream_options.include_usage</c> is set.</summary>
    public static JsonObject UsageChunk(string id, string model, long created, long prompt, long completion) => new()
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(),
        ["usage"] = Usage(prompt, completion),
    };

    /// <summary>What one chat chunk says: its text, tool-call pieces, finish reason and usage.</summary>
    public readonly record struct ChunkParts(string? Content, JsonArray? ToolCalls, string? FinishReason, long? Prompt, long? Completion, JsonObject? Error);

    public static ChunkParts Read(JsonObject chunk)
    {
        if (chunk["error"] is JsonObject)
        {
            return new ChunkParts(null, null, null, null, null, chunk);
        }
        var choice = (chunk["choices"] as JsonArray)?.FirstOrDefault() as JsonObject;
        var delta = choice?["delta"] as JsonObject;
        var usage = chunk["usage"] as JsonObject;
        return new ChunkParts(Text(delta?["content"]), delta?["tool_calls"] as JsonArray, Text(choice?["finish_reason"]),
            usage is null ? null : Long(usage["prompt_tokens"]), usage is null ? null : Long(usage["completion_tokens"]), null);
    }

    /// <summary>The single choice of a chat answer: its text, tool calls, finish reason; and the answer's usage.</summary>
    public static (string? Content, JsonArray ToolCalls, string? FinishReason, long Prompt, long Completion) ReadAnswer(JsonObject answer)
    {
        var choice = (answer["choices"] as JsonArray)?.FirstOrDefault() as JsonObject;
        var message = choice?["message"] as JsonObject;
        var usage = answer["usage"] as JsonObject;
        return (Text(message?["content"]), message?["tool_calls"] as JsonArray ?? [], Text(choice?["finish_reason"]),
            Long(usage?["prompt_tokens"]), Long(usage?["completion_tokens"]));
    }

    /// <summary>The chat completion request's completion budget (<c>max_completion_tokens</c>, else <c>max_tokens</c>).</summary>
    public static int? MaxTokens(JsonObject chat) => Int(chat["max_completion_tokens"]) ?? Int(chat["max_tokens"]);

    /// <summary>Refuses a request field the target format cannot express.</summary>
    public static void Refuse(JsonObject request, string field, string format)
    {
        if (request[field] is not null)
        {
            throw new InvalidLlmRequestException($"'{field}' has no equivalent in the {format} format; remove it or use a connector that speaks the caller's API.");
        }
    }
}
