using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>One server-sent event: its <c>event:</c> name (null when it has none) and its <c>data:</c> lines joined.</summary>
public readonly record struct SseEvent(string? Name, string Data)
{
    public const string Done = "[DONE]";

    /// <summary>Reads one event block (the bytes up to and including its blank line); null for a comment-only block.</summary>
    public static SseEvent? Parse(ReadOnlySpan<byte> block)
    {
        string? name = null;
        StringBuilder? data = null;
        while (!block.IsEmpty)
        {
            var newline = block.IndexOf((byte)'\n');
            var line = (newline < 0 ? block : block[..newline]).TrimEnd((byte)'\r');
            block = newline < 0 ? default : block[(newline + 1)..];
            if (line.StartsWith("data:"u8))
            {
                var value = line[5..];
                value = !value.IsEmpty && value[0] == (byte)' ' ? value[1..] : value;
                (data ??= new StringBuilder()).Append(data.Length > 0 ? "\n" : "").Append(Encoding.UTF8.GetString(value));
            }
            else if (line.StartsWith("event:"u8))
            {
                name = Encoding.UTF8.GetString(line[6..]).Trim();
            }
        }
        return data is null && name is null ? null : new SseEvent(name, data?.ToString() ?? "");
    }

    public static SseEvent Json(string? name, JsonNode data) => new(name, data.ToJsonString(Options));

    /// <summary>The data as a JSON object, or null (<c>[DONE]</c>, text that is not an object).</summary>
    public JsonObject? Object()
    {
        if (Data.Length == 0 || Data[0] != '{')
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(Data) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void WriteTo(StringBuilder output)
    {
        if (Name is not null)
        {
            output.Append("event: ").Append(Name).Append('\n');
        }
        output.Append("data: ").Append(Data).Append("\n\n");
    }

    /// <summary>Compact JSON with the characters JSON allows unescaped (as providers send it).</summary>
    public static readonly JsonSerializerOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>
/// Turns one wire format's answer into another's: a streamed answer event by event, as the events arrive (never the
/// whole stream held), a JSON answer whole, and an error body. The gateway's internal answer is OpenAI's chat
/// completion (its JSON and its chunks); a translator either reads a provider's format into it (an upstream format's
/// <see cref="IUpstreamFormat.Answers"/>) or writes it out in an inbound API's format (<see cref="IInboundApi.Answers"/>).
/// One translator serves one call: streams keep state between events.
/// </summary>
public abstract class AnswerTranslator
{
    /// <summary>One event in, any number out (none while a translation waits for more).</summary>
    public abstract void Event(SseEvent input, List<SseEvent> output);

    /// <summary>The stream ended (complete, cut by the provider or by a limit): the events that close it in this format, once.</summary>
    public virtual void End(List<SseEvent> output)
    {
    }

    /// <summary>A whole JSON answer (a 2xx without a stream).</summary>
    public abstract JsonObject Answer(JsonObject answer);

    /// <summary>An error body (a non-2xx answer), whatever shape it came in (null when it was not JSON).</summary>
    public abstract JsonObject Error(int status, JsonObject? error);
}

/// <summary>What a translator needs to know about its call: the model served and the prompt tokens counted before the call.</summary>
public sealed record TranslationContext(string Model, long PromptTokens)
{
    /// <summary>When the call started (unix seconds), for the <c>created</c> fields formats carry.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>An id in a format's style (<c>msg_…</c>, <c>resp_…</c>, <c>chatcmpl-…</c>).</summary>
    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N");
}

/// <summary>The OpenAI error shape all translations go through: <c>{"error": {"message", "type", "code"}}</c>.</summary>
public static class ChatErrors
{
    public static JsonObject Of(string message, string type, string? code) =>
        new() { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["code"] = code } };

    /// <summary>The message, type and code of an OpenAI-shaped error (whatever is missing, filled in from the status).</summary>
    public static (string Message, string Type, string? Code) Read(int status, JsonObject? error)
    {
        var body = error?["error"] as JsonObject;
        var message = body?["message"] is JsonValue m && m.TryGetValue<string>(out var text) ? text : $"The provider answered {status}.";
        var type = body?["type"] is JsonValue t && t.TryGetValue<string>(out var kind) ? kind : status >= 500 ? "api_error" : "invalid_request_error";
        var code = body?["code"] is JsonValue c && c.TryGetValue<string>(out var name) ? name : null;
        return (message, type, code);
    }
}
