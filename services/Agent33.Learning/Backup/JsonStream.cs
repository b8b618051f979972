using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// Pulls JSON tokens and whole values from a stream through a growing buffer, so a large document is
/// read with memory proportional to its largest single record, not its size.
/// </summary>
internal sealed class JsonStream(Stream input)
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 128 };

    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;
    private JsonReaderState _state = new(Options);

    public readonly record struct Token(JsonTokenType Type, string? Text);

    /// <summary>The next token; property names and strings come unescaped.</summary>
    public async ValueTask<Token> NextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryNext(out var token))
            {
                return token;
            }
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>The next complete value (object, array or scalar).</summary>
    public async ValueTask<JsonElement> ReadValueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryValue(out var value, out _))
            {
                return value;
            }
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>The next element of the array being read, or null at its end.</summary>
    public async ValueTask<JsonElement?> ReadItemAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryValue(out var value, out var endOfArray))
            {
                return endOfArray ? null : value;
            }
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>Fails when anything but whitespace follows the document.</summary>
    public async ValueTask EnsureEndAsync(CancellationToken cancellationToken)
    {
        while (!_eof)
        {
            await FillAsync(cancellationToken, allowEnd: true);
        }
        if (_buffer.AsSpan(_start, _end - _start).Trim(" \t\r\n"u8).Length > 0)
        {
            throw Invalid("unexpected data after the end of the document");
        }
    }

    private bool TryNext(out Token token)
    {
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _eof, _state);
        try
        {
            if (!reader.Read())
            {
                token = default;
                return false;
            }
            token = reader.TokenType switch
            {
                JsonTokenType.PropertyName or JsonTokenType.String => new Token(reader.TokenType, reader.GetString()),
                JsonTokenType.Number => new Token(reader.TokenType, Encoding.UTF8.GetString(reader.ValueSpan)),
                _ => new Token(reader.TokenType, null),
            };
        }
        catch (JsonException ex)
        {
            throw Invalid(ex.Message);
        }
        catch (InvalidOperationException) // GetString of a string token fails only on text that is not Unicode
        {
            throw Invalid(NotUnicode);
        }
        Consume(ref reader);
        return true;
    }

    private bool TryValue(out JsonElement value, out bool endOfArray)
    {
        value = default;
        endOfArray = false;
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _eof, _state);
        try
        {
            if (!reader.Read())
            {
                return false;
            }
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                endOfArray = true;
                Consume(ref reader);
                return true;
            }
            var valueStart = (int)reader.TokenStartIndex;
            if (!reader.TrySkip())
            {
                return false; // the value continues past the buffer: read more and start it again
            }
            var slice = _buffer.AsMemory(_start + valueStart, (int)reader.BytesConsumed - valueStart);
            // The parser checks structure, not the text inside strings: broken UTF-8, or a \u escape of half a
            // surrogate pair, would only fail later, deep in a reader that expected text, as a bug.
            if (!System.Text.Unicode.Utf8.IsValid(slice.Span))
            {
                throw Invalid(NotUnicode);
            }
            using (var document = JsonDocument.Parse(slice))
            {
                if (!JsonText.IsUnicode(document.RootElement))
                {
                    throw Invalid(NotUnicode);
                }
                value = document.RootElement.Clone();
            }
        }
        catch (JsonException ex)
        {
            throw Invalid(ex.Message);
        }
        Consume(ref reader);
        return true;
    }

    private const string NotUnicode = "The backup holds text that is not Unicode: broken UTF-8, or an unpaired surrogate escape (\\ud800-\\udfff).";

    private void Consume(ref Utf8JsonReader reader)
    {
        _start += (int)reader.BytesConsumed;
        _state = reader.CurrentState;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken, bool allowEnd = false)
    {
        if (_eof)
        {
            throw Invalid("the document ends early (truncated?)");
        }
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
        var read = await input.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        if (read == 0)
        {
            _eof = true;
            if (!allowEnd && _end == 0)
            {
                throw Invalid("the document is empty");
            }
        }
        _end += read;
    }

    private static BackupFormatException Invalid(string reason) =>
        new(BackupEnvelope.Invalid, $"The backup is not valid JSON: {reason}.");
}
