using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm.Formats;

/// <summary>A request the gateway refuses before any provider is called (400 <c>invalid_request</c> in the API's shape).</summary>
public sealed class InvalidLlmRequestException(string message) : Exception(message);

/// <summary>
/// An inbound LLM API (a route callers post to): reads its request into the gateway's internal call — an OpenAI chat
/// completion request — and writes the internal answer back in its own shape.
/// </summary>
public interface IInboundApi
{
    /// <summary>The <c>api</c> label of the <c>llm_*</c> metrics: <c>chat</c>, <c>responses</c>, <c>messages</c>.</summary>
    string Label { get; }

    ErrorShape Errors { get; }

    /// <summary>The caller's body as a chat completion request (throws <see cref="InvalidLlmRequestException"/>).</summary>
    ValueTask<JsonObject> ToChatAsync(JsonObject body, HttpContext http);

    /// <summary>The translator from chat answers to this API's, or null when this API is chat completions.</summary>
    AnswerTranslator? Answers(TranslationContext context);

    /// <summary>The translator for one call whose answers echo its request (what <see cref="ToChatAsync"/> kept on the call); by default <see cref="Answers(TranslationContext)"/>.</summary>
    AnswerTranslator? Answers(TranslationContext context, HttpContext http) => Answers(context);

    /// <summary>After the answer was relayed (kept state, e.g. a stored response); the default keeps nothing.</summary>
    ValueTask AfterAsync(HttpContext http, JsonObject chatRequest, AnswerTranslator? answers, bool succeeded) => ValueTask.CompletedTask;
}

/// <summary>An <c>llm</c> connector's wire format (<c>Format</c>): where and how a chat request is sent, and how its answers read as chat.</summary>
public interface IUpstreamFormat
{
    /// <summary>The path under the connector's destination (<c>chat/completions</c>, <c>responses</c>, <c>messages</c>).</summary>
    string Path { get; }

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

    public ValueTask<JsonObject> ToChatAsync(JsonObject body, HttpContext http)
    {
        if (body["messages"] is not JsonArray { Count: > 0 })
        {
            throw new InvalidLlmRequestException("messages must be a non-empty array.");
        }
        return ValueTask.FromResult(body);
    }

    public AnswerTranslator? Answers(TranslationContext context) => null;
}
