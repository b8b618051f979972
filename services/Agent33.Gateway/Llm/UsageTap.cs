using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.ML.Tokenizers;

namespace Agent33.Gateway.Llm;

/// <summary>What a provider reported as a call's usage: each count as given, null when absent; <see cref="Unreadable"/> when a count was not an integer that fits.</summary>
public readonly record struct ReportedUsage(long? PromptTokens, long? CompletionTokens, bool Unreadable);

/// <summary>Thrown into the forwarder to stop an upstream whose event is larger than <c>Llm:MaxEventBytes</c>.</summary>
internal sealed class EventTooLargeException(int limit) : IOException($"An event of the answer is larger than {limit} bytes.");

/// <summary>
/// The caller's response body during an LLM call: bytes pass on as they come and the answer is read on the way, once,
/// in time linear in its size.
/// <list type="bullet">
/// <item>An event stream is relayed event by event; only the event in progress is kept (at most
/// <c>Llm:MaxEventBytes</c>: a larger event ends the stream with an OpenAI-shaped error event, or before any byte with
/// a 502 the caller of the tap writes). Each event is parsed once: its usage, and the tokens of its deltas (the
/// estimate when no usage comes). The usage event the gateway asked for is dropped when the caller did not ask for it.</item>
/// <item>A JSON answer streams through a scanner (<see cref="JsonAnswerScanner"/>) that keeps only the root's
/// <c>usage</c> object and counts the tokens of the answer's text: any size, no copy.</item>
/// </list>
/// </summary>
/// <remarks>
/// A call between two wire formats passes a <paramref name="decoder"/> (the provider's format into chat) and/or an
/// <paramref name="encoder"/> (chat into the caller's API): each event is translated as it arrives, read for usage as
/// chat in between; a JSON answer or an error body is held (at most <see cref="MaxTranslatedBytes"/>) and translated
/// whole when it ends (<see cref="CompleteUsageAsync"/>).
/// </remarks>
internal sealed class UsageTap(IHttpResponseBodyFeature inner, bool dropUsageEvent, int maxEventBytes, Tokenizer tokenizer,
    Formats.AnswerTranslator? encoder = null) : Stream, IHttpResponseBodyFeature
{
    /// <summary>The largest JSON answer or error body a translated call holds to translate it whole.</summary>
    public const int MaxTranslatedBytes = 16 * 1024 * 1024;

    /// <summary>The provider format's translator into chat, set for each attempt (its connector's format); null for chat completions.</summary>
    public Formats.AnswerTranslator? Decoder { get; set; }

    /// <summary>The answer is translated (its provider's format or the caller's API is not chat completions).</summary>
    public bool Translates => Decoder is not null || encoder is not null;
    private MemoryStream? _whole;
    private readonly List<Formats.SseEvent> _decoded = [], _encoded = [];

    private readonly long _started = Stopwatch.GetTimestamp();
    private bool? _eventStream;
    private byte[]? _pending;
    private int _pendingLength;
    private bool _afterNewline;
    private bool _cut;
    private JsonAnswerScanner? _json;
    private long _deltaTokens;
    private ReportedUsage? _streamUsage;

    /// <summary>The usage the provider reported, or null when none came (yet).</summary>
    public ReportedUsage? Usage => _json?.Usage ?? _streamUsage;

    /// <summary>Completion tokens counted from the answer's text relayed so far (deltas of a stream, the message of a JSON answer).</summary>
    public long CountedCompletionTokens => _json?.CountedTokens ?? _deltaTokens;

    /// <summary>A successful answer's body started coming (the provider is charging for it).</summary>
    public bool Answered { get; private set; }

    /// <summary>The stream was ended because one event was larger than the limit.</summary>
    public bool EventTooLarge => _cut;

    /// <summary>Time to the first byte that reached the caller, or null.</summary>
    public TimeSpan? FirstByte { get; private set; }

    public HttpResponse? Response { get; set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_cut)
        {
            throw new EventTooLargeException(maxEventBytes);
        }
        if (_eventStream is null)
        {
            _eventStream = Response?.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
            Answered = Response?.StatusCode is >= 200 and < 300;
            if (_eventStream == false && Answered)
            {
                _json = new JsonAnswerScanner(tokenizer);
            }
        }
        if (Translates && (_eventStream == false || !Answered))
        {
            // A JSON answer (or an error) is translated whole, when it ends.
            _whole ??= new MemoryStream();
            if (_whole.Length + buffer.Length > MaxTranslatedBytes)
            {
                _whole = null;
                await CutAsync(cancellationToken);
                return;
            }
            _whole.Write(buffer.Span);
            return;
        }
        if (_eventStream == false)
        {
            _json?.Feed(buffer.Span);
            await PassAsync(buffer, cancellationToken);
            return;
        }
        var data = buffer;
        while (!data.IsEmpty)
        {
            var end = FindEventEnd(data.Span);
            if (end < 0)
            {
                if (_pendingLength + data.Length > maxEventBytes)
                {
                    await CutAsync(cancellationToken);
                }
                Append(data.Span);
                return;
            }
            if (_pendingLength == 0)
            {
                if (end > maxEventBytes)
                {
                    await CutAsync(cancellationToken);
                }
                await EventAsync(data[..end], cancellationToken); // whole in this write: no copy
            }
            else
            {
                if (_pendingLength + end > maxEventBytes)
                {
                    await CutAsync(cancellationToken);
                }
                Append(data.Span[..end]);
                await EventAsync(_pending.AsMemory(0, _pendingLength), cancellationToken);
                _pendingLength = 0;
            }
            data = data[end..];
        }
    }

    /// <summary>After the call: the bytes of an unfinished last event (a stream cut short), and the scanner's last word.</summary>
    public async Task CompleteUsageAsync(CancellationToken cancellationToken)
    {
        if (_eventStream == true && _pendingLength > 0 && !_cut)
        {
            if (Translates)
            {
                await EventAsync(_pending.AsMemory(0, _pendingLength), cancellationToken);
            }
            else
            {
                ReadEvent(_pending.AsSpan(0, _pendingLength));
                await PassAsync(_pending.AsMemory(0, _pendingLength), cancellationToken);
            }
        }
        _pendingLength = 0;
        if (Translates && !_cut && _eventStream is not null)
        {
            await CompleteTranslationAsync(cancellationToken);
        }
        _json?.Complete();
        if (_pending is not null)
        {
            ArrayPool<byte>.Shared.Return(_pending);
            _pending = null;
        }
    }

    /// <summary>
    /// Where the event in progress ends in <paramref name="data"/> (the index after its blank line), or -1. Lines end
    /// with LF (a CR before it is ignored), and the state carries across writes, so every byte is looked at once.
    /// </summary>
    private int FindEventEnd(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            if (_afterNewline)
            {
                var j = i;
                while (j < data.Length && data[j] == (byte)'\r')
                {
                    j++;
                }
                if (j == data.Length)
                {
                    return -1;
                }
                _afterNewline = false;
                if (data[j] == (byte)'\n')
                {
                    return j + 1;
                }
                i = j;
            }
            var newline = data[i..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return -1;
            }
            i += newline + 1;
            _afterNewline = true;
        }
        return -1;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_pending is null || _pendingLength + bytes.Length > _pending.Length)
        {
            var grown = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(_pendingLength + bytes.Length, (_pending?.Length ?? 2048) * 2), Math.Max(maxEventBytes, 1)));
            if (_pending is not null)
            {
                _pending.AsSpan(0, _pendingLength).CopyTo(grown);
                ArrayPool<byte>.Shared.Return(_pending);
            }
            _pending = grown;
        }
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += bytes.Length;
    }

    private async ValueTask EventAsync(ReadOnlyMemory<byte> sseEvent, CancellationToken cancellationToken)
    {
        if (Translates)
        {
            if (Formats.SseEvent.Parse(sseEvent.Span) is { } parsed)
            {
                await TranslateAsync(parsed, end: false, cancellationToken);
            }
            return;
        }
        if (!ReadEvent(sseEvent.Span) || !dropUsageEvent)
        {
            await PassAsync(sseEvent, cancellationToken);
        }
    }

    /// <summary>
    /// One provider event through the translation: decoded into chat events, each read for usage (the usage chunk
    /// dropped when the caller did not ask for it), encoded into the caller's API, written. With <paramref name="end"/>
    /// (and no event), the translators' closing events.
    /// </summary>
    private async ValueTask TranslateAsync(Formats.SseEvent? input, bool end, CancellationToken cancellationToken)
    {
        _decoded.Clear();
        _encoded.Clear();
        if (input is { } one)
        {
            if (Decoder is null)
            {
                _decoded.Add(one);
            }
            else
            {
                Decoder.Event(one, _decoded);
            }
        }
        if (end)
        {
            Decoder?.End(_decoded);
        }
        foreach (var chat in _decoded)
        {
            var usageOnly = chat.Data.StartsWith('{') && ReadChunk(Encoding.UTF8.GetBytes(chat.Data));
            if (usageOnly && dropUsageEvent)
            {
                continue;
            }
            if (encoder is null)
            {
                _encoded.Add(chat);
            }
            else
            {
                encoder.Event(chat, _encoded);
            }
        }
        if (end)
        {
            encoder?.End(_encoded);
        }
        if (_encoded.Count > 0)
        {
            var text = new StringBuilder();
            foreach (var translated in _encoded)
            {
                translated.WriteTo(text);
            }
            await PassAsync(Encoding.UTF8.GetBytes(text.ToString()), cancellationToken);
        }
    }

    /// <summary>The end of a translated answer: a stream's closing events, or the held JSON answer or error translated whole.</summary>
    private async Task CompleteTranslationAsync(CancellationToken cancellationToken)
    {
        if (_eventStream == true && Answered)
        {
            await TranslateAsync(null, end: true, cancellationToken);
            return;
        }
        if (_whole is null)
        {
            return;
        }
        var bytes = _whole.GetBuffer().AsSpan(0, (int)_whole.Length);
        System.Text.Json.Nodes.JsonObject? body;
        try
        {
            body = System.Text.Json.Nodes.JsonNode.Parse(bytes) as System.Text.Json.Nodes.JsonObject;
        }
        catch (JsonException)
        {
            body = null;
        }
        _whole = null;
        byte[] translated;
        if (Answered)
        {
            var chat = body is null ? null : Decoder is null ? body : Decoder.Answer(body);
            var chatBytes = chat is null ? [] : JsonSerializer.SerializeToUtf8Bytes(chat, Formats.SseEvent.Options);
            _json!.Feed(chatBytes);
            translated = chat is null ? bytes.ToArray() : encoder is null ? chatBytes : JsonSerializer.SerializeToUtf8Bytes(encoder.Answer(chat), Formats.SseEvent.Options);
        }
        else
        {
            translated = TranslateError(Response?.StatusCode ?? 502, body);
        }
        await PassAsync(translated, cancellationToken);
    }

    /// <summary>An error body of the provider's (held or relayed) in the caller's API's shape.</summary>
    public byte[] TranslateError(int status, ReadOnlySpan<byte> body)
    {
        try
        {
            return TranslateError(status, System.Text.Json.Nodes.JsonNode.Parse(body) as System.Text.Json.Nodes.JsonObject);
        }
        catch (JsonException)
        {
            return TranslateError(status, (System.Text.Json.Nodes.JsonObject?)null);
        }
    }

    private byte[] TranslateError(int status, System.Text.Json.Nodes.JsonObject? body)
    {
        var chat = Decoder is null ? body ?? Formats.ChatErrors.Of($"The provider answered {status}.", "api_error", null) : Decoder.Error(status, body);
        return JsonSerializer.SerializeToUtf8Bytes(encoder is null ? chat : encoder.Error(status, chat), Formats.SseEvent.Options);
    }

    /// <summary>
    /// Ends the stream: before any byte reached the caller, the forwarder is stopped and the tap's caller answers 502;
    /// after, the caller gets an OpenAI-shaped error event and the end of the response, then the upstream is stopped.
    /// </summary>
    private async Task CutAsync(CancellationToken cancellationToken)
    {
        _cut = true;
        _pendingLength = 0;
        if (FirstByte is not null || Response?.HasStarted == true)
        {
            var error = Formats.ChatErrors.Of(
                $"The provider sent an event larger than the gateway relays ({maxEventBytes} bytes, Llm:MaxEventBytes); the stream was ended.", "api_error", "http_error");
            var text = new StringBuilder();
            (encoder is null ? Formats.SseEvent.Json(null, error) : Formats.SseEvent.Json("error", encoder.Error(502, error))).WriteTo(text);
            try
            {
                await inner.Stream.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), cancellationToken);
                await inner.CompleteAsync();
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                // the caller went away meanwhile
            }
        }
        throw new EventTooLargeException(maxEventBytes);
    }

    private ValueTask PassAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        FirstByte ??= Stopwatch.GetElapsedTime(_started);
        return inner.Stream.WriteAsync(bytes, cancellationToken);
    }

    /// <summary>Reads one event: its usage and the tokens of its deltas. True when it is the usage-only chunk (no choices) the gateway asked for.</summary>
    private bool ReadEvent(ReadOnlySpan<byte> sseEvent)
    {
        var usageOnly = false;
        while (!sseEvent.IsEmpty)
        {
            var newline = sseEvent.IndexOf((byte)'\n');
            var line = newline < 0 ? sseEvent : sseEvent[..newline];
            sseEvent = newline < 0 ? default : sseEvent[(newline + 1)..];
            if (!line.StartsWith("data:"u8))
            {
                continue;
            }
            var payload = line[5..].Trim(" \r"u8);
            if (payload.IsEmpty || payload[0] != (byte)'{')
            {
                continue; // [DONE]
            }
            usageOnly |= ReadChunk(payload);
        }
        return usageOnly;
    }

    private bool ReadChunk(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return false;
            }
            var hasChoices = root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0;
            if (hasChoices)
            {
                foreach (var choice in choices.EnumerateArray())
                {
                    if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
                    {
                        _deltaTokens += JsonAnswerScanner.CountText(tokenizer, delta);
                    }
                }
            }
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                _streamUsage = JsonAnswerScanner.ReadUsage(usage);
                return !hasChoices;
            }
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.Stream.FlushAsync(cancellationToken);

    public override void Flush() => FlushAsync().GetAwaiter().GetResult();

    // IHttpResponseBodyFeature
    public Stream Stream => this;

    public PipeWriter Writer => field ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("LLM answers are streamed, not sent as files");

    /// <summary>A translated answer is complete only after its translation's last bytes (<see cref="CompleteUsageAsync"/>).</summary>
    public Task CompleteAsync() => Translates ? Task.CompletedTask : inner.CompleteAsync();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
