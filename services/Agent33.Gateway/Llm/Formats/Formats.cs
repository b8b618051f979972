using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>A request the gateway refuses before any provider is called (400 <c>invalid_request</c> in the API's shape).</summary>
public sealed class InvalidLlmRequestException(string message) : Exception(message);

/// <summary>What a call asks a model for: a completion (chat, responses, messages) or embeddings.</summary>
public enum LlmOperation
{
    Chat,
    Embeddings,
}

/// <summary>
/// An inbound LLM API (a route callers post to): reads its request into the gateway's internal call — an OpenAI chat
/// completion request (an OpenAI embeddings request for <see cref="LlmOperation.Embeddings"/>) — and writes the
/// internal answer back in its own shape.
/// </summary>
public interface IInboundApi
{
    LlmOperation Operation => LlmOperation.Chat;

    /// <summary>The <c>api</c> label of the <c>llm_*</c> metrics: <c>chat</c>, <c>responses</c>, <c>messages</c>.</summary>
    string Label { get; }

    ErrorShape Errors { get; }

    /// <summary>The caller's body as the internal request of its operation (throws <see cref="InvalidLlmRequestException"/>).</summary>
    ValueTask<JsonObject> ReadRequestAsync(JsonObject body, HttpContext http);

    /// <summary>
    /// The translator from chat answers to this API's for one call (whose answers may echo what
    /// <see cref="ReadRequestAsync"/> kept on <paramref name="http"/>), or null when this API is chat completions.
    /// </summary>
    AnswerTranslator? Answers(TranslationContext context, HttpContext http);

    /// <summary>After the answer was relayed (kept state, e.g. a stored response); the default keeps nothing.</summary>
    ValueTask AfterAsync(HttpContext http, JsonObject chatRequest, AnswerTranslator? answers, bool succeeded) => ValueTask.CompletedTask;
}

/// <summary>An <c>llm</c> connector's wire format (<c>Format</c>): where and how a chat request is sent, and how its answers read as chat.</summary>
public interface IUpstreamFormat
{
    /// <summary>The path under the connector's destination (<c>chat/completions</c>, <c>responses</c>, <c>messages</c>).</summary>
    string Path { get; }

    /// <summary>Where this format serves embeddings, or null when it has none (the call goes to a connector that does).</summary>
    string? EmbeddingsPath => null;

    /// <summary>The chat request in this format (throws <see cref="InvalidLlmRequestException"/> for what it cannot say).</summary>
    JsonObject FromChat(JsonObject chat);

    /// <summary>The connector's own key, in this format's header (the caller's credentials are already dropped).</summary>
    void Authorize(HttpRequestMessage upstream, string? apiKey);

    /// <summary>The translator from this format's answers to chat, or null when this format is chat completions.</summary>
    AnswerTranslator? Answers(TranslationContext context);
}

/// <summary>The upstream formats by their <c>Format</c> name (<see cref="Catalog.ConnectorOptions.LlmFormats"/>, which the catalog validates).</summary>
public static class UpstreamFormats
{
    private static readonly Dictionary<string, IUpstreamFormat> ByName = new(StringComparer.Ordinal)
    {
        ["openai"] = new OpenAiChatFormat(),
        ["anthropic"] = new AnthropicFormat(),
        ["openai-responses"] = new OpenAiResponsesFormat(),
    };

    public static IUpstreamFormat Of(string name) => ByName[name];

    /// <summary>Every format the catalog accepts has a translation (a test holds the two lists together).</summary>
    public static IEnumerable<string> Names => ByName.Keys;
}

/// <summary>OpenAI chat completions upstream: the internal request as it is, its answers as they are.</summary>
public sealed class OpenAiChatFormat : IUpstreamFormat
{
    public string Path => "chat/completions";

    public string EmbeddingsPath => "embeddings";

    public JsonObject FromChat(JsonObject chat) => chat;

    public void Authorize(HttpRequestMessage upstream, string? apiKey)
    {
        // HeaderPolicy already set Authorization: Bearer with the connector's key.
    }

    public AnswerTranslator? Answers(TranslationContext context) => null;
}

/// <summary>OpenAI chat completions inbound (<c>POST /v1/chat/completions</c>): the internal call itself.</summary>
public sealed class ChatCompletionsApi : IInboundApi
{
    public string Label => "chat";

    public ErrorShape Errors => ErrorShape.OpenAi;

    public ValueTask<JsonObject> ReadRequestAsync(JsonObject body, HttpContext http)
    {
        if (body["messages"] is not JsonArray { Count: > 0 })
        {
            throw new InvalidLlmRequestException("messages must be a non-empty array.");
        }
        return ValueTask.FromResult(body);
    }

    public AnswerTranslator? Answers(TranslationContext context, HttpContext http) => null;
}

/// <summary>
/// OpenAI embeddings inbound (<c>POST /v1/embeddings</c>): served by connectors whose format has embeddings
/// (<c>openai</c>); the input's tokens are counted, reserved and charged like a prompt, with no completion.
/// </summary>
public sealed class EmbeddingsApi : IInboundApi
{
    public LlmOperation Operation => LlmOperation.Embeddings;

    public string Label => "embeddings";

    public ErrorShape Errors => ErrorShape.OpenAi;

    public ValueTask<JsonObject> ReadRequestAsync(JsonObject body, HttpContext http)
    {
        var valid = body["input"] switch
        {
            JsonValue text => text.TryGetValue<string>(out var one) && one.Length > 0,
            JsonArray { Count: > 0 and <= 2048 } items => items.All(i => i is JsonValue v && (v.TryGetValue<string>(out var s) ? s.Length > 0 : v.TryGetValue<long>(out _))
                                                                    || i is JsonArray { Count: > 0 } tokens && tokens.All(t => t is JsonValue n && n.TryGetValue<long>(out _))),
            _ => false,
        };
        if (!valid)
        {
            throw new InvalidLlmRequestException("input must be a non-empty string, an array of up to 2048 non-empty strings, or token arrays.");
        }
        return ValueTask.FromResult(body);
    }

    public AnswerTranslator? Answers(TranslationContext context, HttpContext http) => null;
}
