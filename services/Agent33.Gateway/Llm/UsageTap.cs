using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The caller's response body during an LLM call: bytes pass on as they come, and the provider's reported usage is
/// read on the way. An event stream is relayed event by event (never held past the end of the event it is in); the
/// usage event the gateway asked for is dropped when the caller did not ask for it. A JSON answer is copied, up to
/// <see cref="MaxJsonBytes"/>, to read its <c>usage</c> at the end.
/// </summary>
internal sealed class UsageTap(IHttpResponseBodyFeature inner, bool dropUsageEvent) : Stream, IHttpResponseBodyFeature
{
    public const int MaxJsonBytes = 4 * 1024 * 1024;

    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly ArrayBufferWriter<byte> _pending = new();
    private bool? _eventStream;

    public long? PromptTokens { get; private set; }
    public long? CompletionTokens { get; private set; }

    /// <summary>Time to the first byte that reached the caller, or null.</summary>
    public TimeSpan? FirstByte { get; private set; }

    public HttpResponse? Response { get; set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _eventStream ??= Response?.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
        if (_eventStream == false)
        {
            if (_pending.WrittenCount + buffer.Length <= MaxJsonBytes)
            {
                _pending.Write(buffer.Span);
            }
            await PassAsync(buffer, cancellationToken);
            return;
        }
        // Whole events only: an event ends at a blank line.
        _pending.Write(buffer.Span);
        var written = _pending.WrittenMemory;
        var end = LastEventEnd(written.Span);
        if (end < 0)
        {
            return;
        }
        var events = written[..end];
        var rest = written[end..].ToArray();
        var start = 0;
        while (start < events.Length)
        {
            var length = NextEventEnd(events.Span[start..]);
            var one = events.Slice(start, length);
            if (!ReadUsage(one.Span) || !dropUsageEvent)
            {
                await PassAsync(one, cancellationToken);
            }
            start += length;
        }
        _pending.Clear();
        _pending.Write(rest);
    }

    /// <summary>After the call: the usage of a JSON answer, and any bytes of an unfinished last event.</summary>
    public async Task CompleteUsageAsync(CancellationToken cancellationToken)
    {
        if (_eventStream == true && _pending.WrittenCount > 0)
        {
            await PassAsync(_pending.WrittenMemory, cancellationToken);
        }
        else if (_eventStream == false && _pending.WrittenCount > 0)
        {
            ReadUsageFrom(_pending.WrittenSpan);
        }
        _pending.Clear();
    }

    private ValueTask PassAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        FirstByte ??= Stopwatch.GetElapsedTime(_started);
        return inner.Stream.WriteAsync(bytes, cancellationToken);
    }

    /// <summary>Reads a usage event; true when the event is the usage-only chunk (no choices) the gateway asked for.</summary>
    private bool ReadUsage(ReadOnlySpan<byte> sseEvent)
    {
        if (sseEvent.IndexOf("\"usage\""u8) < 0)
        {
            return false;
        }
        var text = Encoding.UTF8.GetString(sseEvent);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("data:", StringComparison.Ordinal) && ReadUsageFrom(Encoding.UTF8.GetBytes(line[5..].Trim())) is { } onlyUsage)
            {
                return onlyUsage;
            }
        }
        return false;
    }

    /// <summary>Null when the JSON has no usage; else whether it has no choices besides (a usage-only chunk).</summary>
    private bool? ReadUsageFrom(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            if (!document.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            PromptTokens = usage.TryGetProperty("prompt_tokens", out var prompt) && prompt.TryGetInt64(out var p) ? p : PromptTokens;
            CompletionTokens = usage.TryGetProperty("completion_tokens", out var completion) && completion.TryGetInt64(out var c) ? c : CompletionTokens;
            return !document.RootElement.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static int LastEventEnd(ReadOnlySpan<byte> bytes)
    {
        var lf = bytes.LastIndexOf("\n\n"u8);
        var crlf = bytes.LastIndexOf("\r\n\r\n"u8);
        return Math.Max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4);
    }

    private static int NextEventEnd(ReadOnlySpan<byte> bytes)
    {
        var lf = bytes.IndexOf("\n\n"u8);
        var crlf = bytes.IndexOf("\r\n\r\n"u8);
        return (lf, crlf) switch
        {
            (< 0, < 0) => bytes.Length,
            (>= 0, < 0) => lf + 2,
            (< 0, >= 0) => crlf + 4,
            _ => Math.Min(lf + 2, crlf + 4),
        };
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

    public Task CompleteAsync() => inner.CompleteAsync();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
