using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Agent33.Gateway.Llm;

/// <summary>
/// Counts tokens with OpenAI's own tokenizers (Microsoft.ML.Tokenizers' Tiktoken), chosen by model family:
/// <c>o200k_base</c> for the gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series and other current models, <c>cl100k_base</c>
/// for gpt-4, gpt-3.5 and the embeddings. A model of another provider is counted with <c>o200k_base</c>: an estimate,
/// within a few percent for English text. Used for a call's reservation (its prompt) and for the completion of an
/// answer whose provider reported no usage (the deltas relayed).
/// </summary>
public static class TokenCounter
{
    private static readonly Lazy<Tokenizer> O200k = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));
    private static readonly Lazy<Tokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));

    /// <summary>What OpenAI adds per message (role and separators) and to prime the answer.</summary>
    public const int PerMessage = 4, Priming = 3;

    public static Tokenizer For(string model)
    {
        var name = model.AsSpan();
        var slash = name.LastIndexOf('/'); // "openai/gpt-4o" as some providers name models
        if (slash >= 0)
        {
            name = name[(slash + 1)..];
        }
        var older = (name.StartsWith("gpt-4", StringComparison.OrdinalIgnoreCase) && !name.StartsWith("gpt-4o", StringComparison.OrdinalIgnoreCase)
                        && !name.StartsWith("gpt-4.", StringComparison.OrdinalIgnoreCase))
                    || name.StartsWith("gpt-3.5", StringComparison.OrdinalIgnoreCase)
                    || name.StartsWith("text-embedding", StringComparison.OrdinalIgnoreCase);
        return older ? Cl100k.Value : O200k.Value;
    }

    public static int Count(Tokenizer tokenizer, ReadOnlySpan<char> text) => text.IsEmpty ? 0 : tokenizer.CountTokens(text);

    /// <summary>
    /// The prompt of a chat completion: every string in the messages (content, content parts, names, tool calls),
    /// the tool definitions, <see cref="PerMessage"/> per message and <see cref="Priming"/>. Non-text parts (an image)
    /// are counted as the text of their JSON, which is no provider's price for them: they are estimated.
    /// </summary>
    public static long CountPrompt(string model, JsonArray messages, JsonNode? tools)
    {
        var tokenizer = For(model);
        long total = Priming;
        foreach (var message in messages)
        {
            total += PerMessage + CountNode(tokenizer, message);
        }
        if (tools is not null)
        {
            total += CountNode(tokenizer, tools);
        }
        return total;
    }

    /// <summary>The tokens of an embeddings input: its texts counted, token arrays taken as they are.</summary>
    public static long CountEmbeddingInput(string model, JsonNode? input)
    {
        var tokenizer = For(model);
        return input switch
        {
            JsonValue value when value.TryGetValue<string>(out var text) => Count(tokenizer, text),
            JsonArray items when items.All(i => i is JsonValue v && v.TryGetValue<long>(out _)) => items.Count, // one token array
            JsonArray items => items.Sum(item => item is JsonArray tokens ? tokens.Count : CountNode(tokenizer, item)),
            _ => 0,
        };
    }

    private static long CountNode(Tokenizer tokenizer, JsonNode? node) => node switch
    {
        null => 0,
        JsonValue value when value.TryGetValue<string>(out var text) => Count(tokenizer, text),
        JsonValue => 1,
        JsonArray array => array.Sum(item => CountNode(tokenizer, item)),
        JsonObject obj => obj.Sum(property => CountNode(tokenizer, property.Value) + (property.Key is "content" or "text" or "role" ? 0 : 1)),
        _ => 0,
    };
}
