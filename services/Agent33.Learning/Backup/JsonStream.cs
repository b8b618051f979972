using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// Pulls JSON tokens and whole values from a stream through a growing buffer, so a large document is
/// read with memory proportional to its largest single record, not its size. No value may exceed
/// <c>maxValueBytes</c>: an array element that does is skipped (and reported, with its hash and first bytes),
/// anything else makes the document unreadable; neither is ever held in memory whole.
/// </summary>
internal sealed class JsonStream(Stream input, int maxValueBytes = JsonStream.DefaultMaxValueBytes)
{
    /// <summary>Far above the largest record the service accepts (a signal at every limit, every character escaped, is under 2 MiB).</summary>
    public const int DefaultMaxValueBytes = 4 * 1024 * 1024;

    private static readonly JsonReaderOptions Options = new() { MaxDepth = 128 };

    private byte[] _buffer = new byte[Math.Min(64 * 1024, Math.Max(16, maxValueBytes))];
    private int _start;
    private int _end;
    private bool _eof;
    private JsonReaderState _state = new(Options);

    public readonly record struct Token(JsonTokenType Type, string? Text);

    /// <summary>An array element: its value, or — when it was larger than the limit — what was kept of it (the value is then a stand-in).</summary>
    public readonly record struct Item(JsonElement Value, QuarantinedPayload? Oversized);

    private int Pending => _end - _start;

    /// <summary>The next token; property names and strings come unescaped.</summary>
    public async ValueTask<Token> NextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryNext(out var token))
            {
                return token;
            }
            EnsureRoom();
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
            EnsureRoom();
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>The next element of the array being read, or null at its end.</summary>
    public async ValueTask<Item?> ReadItemAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryValue(out var value, out var endOfArray))
            {
                return endOfArray ? null : new Item(value, null);
            }
            if (Pending >= maxValueBytes)
            {
                var oversized = await SkipOversizedAsync(cancellationToken);
                if (oversized is not null)
                {
                    // The stand-in left in the element's place reads as a small value of the same kind.
                    if (!TryValue(out var standIn, out _))
                    {
                        throw Invalid("an oversized element could not be skipped");
                    }
                    return new Item(standIn, oversized);
                }
                continue;
            }
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>A token or value outside an array element cannot be skipped: past the limit, the document is refused.</summary>
    private void EnsureRoom()
    {
        if (Pending >= maxValueBytes)
        {
            throw Invalid($"a single value is larger than {maxValueBytes:D} bytes");
        }
    }

    /// <summary>
    /// Reads past an array element too large to hold, hashing it and keeping its first bytes, and leaves a stand-in
    /// of the same kind (<c>{}</c>, <c>[]</c>, <c>""</c> or <c>0</c>) in its place so the reader goes on after it.
    /// Null when only separators were pending (nothing to skip).
    /// </summary>
    private async ValueTask<QuarantinedPayload?> SkipOversizedAsync(CancellationToken cancellationToken)
    {
        var valueStart = _start;
        while (valueStart < _end && _buffer[valueStart] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)',')
        {
            valueStart++;
        }
        if (valueStart == _end)
        {
            return null; // a very long run of whitespace: the reader consumes it with the next read
        }
        // The separator before the element stays: the reader's state expects it.
        var lead = _buffer.AsSpan(_start, valueStart - _start).ToArray();
        var scanner = new ValueScanner();
        var standIn = _buffer[valueStart] switch
        {
            (byte)'{' => "{}"u8.ToArray(),
            (byte)'[' => "[]"u8.ToArray(),
            (byte)'"' => "\"\""u8.ToArray(),
            _ => "0"u8.ToArray(),
        };
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var prefix = new ArrayBufferWriter<byte>(QuarantinedPayload.ExcerptBytes + 4);
        long length = 0;
        var position = valueStart;
        while (true)
        {
            var end = scanner.Scan(_buffer.AsSpan(position, _end - position));
            var chunkEnd = end < 0 ? _end : position + end;
            var chunk = _buffer.AsSpan(position, chunkEnd - position);
            hash.AppendData(chunk);
            prefix.Write(chunk[..Math.Min(chunk.Length, Math.Max(0, QuarantinedPayload.ExcerptBytes + 4 - prefix.WrittenCount))]);
            length += chunk.Length;
            if (end >= 0)
            {
                position = chunkEnd;
                break;
            }
            // Everything scanned is dropped: memory stays at one buffer however large the element.
            _start = _end = position = 0;
            var read = _eof ? 0 : await input.ReadAsync(_buffer, cancellationToken);
            if (read == 0)
            {
                _eof = true;
                throw Invalid("the document ends early (truncated?)");
            }
            _end = read;
        }
        var rest = _buffer.AsSpan(position, _end - position).ToArray();
        var needed = lead.Length + standIn.Length + rest.Length;
        if (needed > _buffer.Length)
        {
            _buffer = new byte[needed];
        }
        lead.CopyTo(_buffer, 0);
        standIn.CopyTo(_buffer, lead.Length);
        rest.CopyTo(_buffer, lead.Length + standIn.Length);
        _start = 0;
        _end = needed;
        return QuarantinedPayload.FromPrefix(prefix.WrittenSpan, Convert.ToHexStringLower(hash.GetHashAndReset()), length);
    }

    /// <summary>Finds where one JSON value ends, a chunk at a time, without parsing it (it is skipped, not read).</summary>
    private sealed class ValueScanner
    {
        private int _depth;
        private bool _inString;
        private bool _escape;
        private bool _started;

        /// <summary>The index just past the value's end in <paramref name="chunk"/>, or -1 when it goes on.</summary>
        public int Scan(ReadOnlySpan<byte> chunk)
        {
            for (var i = 0; i < chunk.Length; i++)
            {
                var b = chunk[i];
                if (!_started)
                {
                    _started = true;
                    _inString = b == '"';
                    _depth = b is (byte)'{' or (byte)'[' ? 1 : 0;
                    continue;
                }
                if (_inString)
                {
                    if (_escape)
                    {
                        _escape = false;
                    }
                    else if (b == '\\')
                    {
                        _escape = true;
                    }
                    else if (b == '"')
                    {
                        _inString = false;
                        if (_depth == 0)
                        {
                            return i + 1;
                        }
                    }
                }
                else if (_depth == 0)
                {
                    if (b is (byte)',' or (byte)']' or (byte)'}' or (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
                    {
                        return i; // a scalar ends before its delimiter
                    }
                }
                else if (b == '"')
                {
                    _inString = true;
                }
                else if (b is (byte)'{' or (byte)'[')
                {
                    _depth++;
                }
                else if (b is (byte)'}' or (byte)']' && --_depth == 0)
                {
                    return i + 1;
                }
            }
            return -1;
        }
    }

    /// <summary>Fails when anything but whitespace follows the document.</summary>
    public async ValueTask EnsureEndAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_buffer.AsSpan(_start, Pending).Trim(" \t\r\n"u8).Length > 0)
            {
                throw Invalid("unexpected data after the end of the document");
            }
            _start = _end; // trailing whitespace, however long, is read past rather than kept
            if (_eof)
            {
                return;
            }
            await FillAsync(cancellationToken, allowEnd: true);
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
            Array.Resize(ref _buffer, Math.Max(_buffer.Length, Math.Min(_buffer.Length * 2, maxValueBytes)));
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
