using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Agent33.Gateway.Llm;

/// <summary>
/// Reads a JSON answer as it streams past, once, in constant memory: keeps only the root's <c>usage</c> object (up to
/// <see cref="MaxUsageBytes"/>) and counts the tokens of the answer's text (the strings named <c>content</c>,
/// <c>refusal</c>, <c>reasoning_content</c>, <c>arguments</c>, <c>text</c>) for the estimate when no usage is
/// reported. A small state machine over the bytes (strings skipped with a vectorised search), not a parser: it does
/// not validate the JSON, which the caller does.
/// </summary>
internal sealed class JsonAnswerScanner(Tokenizer tokenizer)
{
    public const int MaxUsageBytes = 64 * 1024;
    private const int MaxDepth = 64;
    private const int MaxKeyBytes = 24;
    private const int TextChunkBytes = 8 * 1024;

    private readonly bool[] _isObject = new bool[MaxDepth + 1];
    private readonly byte[] _key = new byte[MaxKeyBytes];
    private int _keyLength;
    private int _depth;
    private bool _inString, _escape, _stringIsKey, _stringIsText, _expectKey;
    private ValueKind _next;
    private bool _capturing;
    private int _captureDepth;
    private readonly MemoryStream _usage = new();
    private byte[]? _text;
    private int _textLength;
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private char[]? _chars;

    private enum ValueKind { None, Usage, Text }

    public ReportedUsage? Usage { get; private set; }

    public long CountedTokens { get; private set; }

    public void Feed(ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            if (_inString && !_escape && !_stringIsKey)
            {
                // Inside a value string: jump to the next quote or backslash.
                var skip = bytes[i..].IndexOfAny((byte)'"', (byte)'\\');
                var run = skip < 0 ? bytes[i..] : bytes.Slice(i, skip);
                Take(run);
                i += run.Length;
                if (skip < 0)
                {
                    return;
                }
            }
            var b = bytes[i++];
            if (_capturing)
            {
                Capture(b);
            }
            if (_inString)
            {
                if (_escape)
                {
                    _escape = false;
                    AddStringByte(b);
                }
                else if (b == (byte)'\\')
                {
                    _escape = true;
                    AddStringByte(b);
                }
                else if (b == (byte)'"')
                {
                    EndString();
                }
                else
                {
                    AddStringByte(b);
                }
                continue;
            }
            switch (b)
            {
                case (byte)'"':
                    _inString = true;
                    _stringIsKey = _expectKey && _isObject[Math.Min(_depth, MaxDepth)];
                    _stringIsText = !_stringIsKey && _next == ValueKind.Text;
                    _keyLength = _stringIsKey ? 0 : _keyLength;
                    _next = _stringIsKey ? _next : ValueKind.None;
                    break;
                case (byte)':':
                    _expectKey = false;
                    var key = _key.AsSpan(0, Math.Min(_keyLength, MaxKeyBytes));
                    _next = _keyLength > MaxKeyBytes ? ValueKind.None
                        : _depth == 1 && key.SequenceEqual("usage"u8) ? ValueKind.Usage
                        : key.SequenceEqual("content"u8) || key.SequenceEqual("refusal"u8) || key.SequenceEqual("reasoning_content"u8)
                          || key.SequenceEqual("arguments"u8) || key.SequenceEqual("text"u8) ? ValueKind.Text
                        : ValueKind.None;
                    if (_next == ValueKind.Usage && Usage is null)
                    {
                        _capturing = true;
                        _captureDepth = _depth;
                        _usage.SetLength(0);
                        _next = ValueKind.None;
                    }
                    break;
                case (byte)',':
                    _expectKey = true;
                    _next = ValueKind.None;
                    break;
                case (byte)'{' or (byte)'[':
                    _depth++;
                    _isObject[Math.Min(_depth, MaxDepth)] = b == (byte)'{' && _depth <= MaxDepth;
                    _expectKey = b == (byte)'{';
                    _next = ValueKind.None;
                    break;
                case (byte)'}' or (byte)']':
                    _depth--;
                    _expectKey = false;
                    _next = ValueKind.None;
                    if (_capturing && _depth == _captureDepth)
                    {
                        _capturing = false;
                        Usage = ParseUsage();
                    }
                    break;
            }
        }
    }

    /// <summary>The end of the answer: the last text counted.</summary>
    public void Complete() => FlushText(final: true);

    private void Take(ReadOnlySpan<byte> run)
    {
        if (run.IsEmpty)
        {
            return;
        }
        if (_capturing)
        {
            if (_usage.Length + run.Length > MaxUsageBytes)
            {
                _capturing = false; // no usage object is that large: not read
            }
            else
            {
                _usage.Write(run);
            }
        }
        if (_stringIsText)
        {
            while (!run.IsEmpty)
            {
                _text ??= new byte[TextChunkBytes];
                var n = Math.Min(run.Length, TextChunkBytes - _textLength);
                run[..n].CopyTo(_text.AsSpan(_textLength));
                _textLength += n;
                run = run[n..];
                if (_textLength == TextChunkBytes)
                {
                    FlushText(final: false);
                }
            }
        }
    }

    private void Capture(byte b)
    {
        if (_usage.Length == 0 && b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            return;
        }
        if ((_usage.Length == 0 && b != (byte)'{') || _usage.Length >= MaxUsageBytes)
        {
            _capturing = false;
            return;
        }
        _usage.WriteByte(b);
    }

    private void AddStringByte(byte b)
    {
        if (_stringIsKey)
        {
            if (_keyLength < MaxKeyBytes)
            {
                _key[_keyLength] = b;
            }
            _keyLength++;
        }
        else if (_stringIsText)
        {
            Take([b]);
        }
    }

    private void EndString()
    {
        _inString = false;
        if (_stringIsText)
        {
            FlushText(final: true);
        }
        _stringIsText = false;
        _stringIsKey = false;
    }

    private void FlushText(bool final)
    {
        if (_textLength == 0 && !final)
        {
            return;
        }
        _chars ??= new char[Encoding.UTF8.GetMaxCharCount(TextChunkBytes)];
        var count = _decoder.GetChars(_text ?? [], 0, _textLength, _chars, 0, flush: final);
        CountedTokens += TokenCounter.Count(tokenizer, _chars.AsSpan(0, count));
        _textLength = 0;
    }

    private ReportedUsage? ParseUsage()
    {
        try
        {
            using var document = JsonDocument.Parse(_usage.GetBuffer().AsMemory(0, (int)_usage.Length));
            return document.RootElement.ValueKind == JsonValueKind.Object ? ReadUsage(document.RootElement) : null;
        }
        catch (JsonException)
        {
            return new ReportedUsage(null, null, Unreadable: true);
        }
    }

    /// <summary>A usage object's counts as given; a count that is not an integer fitting 64 bits is unreadable.</summary>
    public static ReportedUsage ReadUsage(JsonElement usage)
    {
        var unreadable = false;
        long? Read(string name)
        {
            if (!usage.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count))
            {
                return count;
            }
            unreadable = true;
            return null;
        }
        var prompt = Read("prompt_tokens");
        var completion = Read("completion_tokens");
        return new ReportedUsage(prompt, completion, unreadable);
    }

    /// <summary>The tokens of a chunk's delta (or a message): its text, refusal, reasoning and tool-call arguments.</summary>
    public static long CountText(Tokenizer tokenizer, JsonElement delta)
    {
        long total = 0;
        foreach (var name in (ReadOnlySpan<string>)["content", "refusal", "reasoning_content"])
        {
            if (delta.TryGetProperty(name, out var text) && text.ValueKind == JsonValueKind.String)
            {
                total += TokenCounter.Count(tokenizer, text.GetString());
            }
        }
        if (delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in calls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
                    && function.TryGetProperty("arguments", out var arguments) && arguments.ValueKind == JsonValueKind.String)
                {
                    total += TokenCounter.Count(tokenizer, arguments.GetString());
                }
            }
        }
        return total;
    }
}
