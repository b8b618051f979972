using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The response body the call's attempts write to, and the attempt's clock. When the upstream's headers arrive
/// (<see cref="OnHeaders"/>, from a YARP response transform) it decides what happens to the body:
/// <list type="bullet">
/// <item>a final-looking answer streams straight to the caller, with no copy;</item>
/// <item>a 408 or 429 (which a retry may replace) and an answer the gateway must rewrite (MCP <c>tools/list</c>) is
/// held, up to <c>Governance:MaxHeldResponseBytes</c>;</item>
/// <item>a 5xx is never shown to the caller, so it is read and dropped, up to the same limit.</item>
/// </list>
/// Past the limit the upstream read is cut (<see cref="Overflowed"/>): no answer can make the gateway hold more.
/// A streaming answer (event stream, or no Content-Length) is detached from the total timeout once its headers are
/// in; from then on only the stream idle timeout (YARP's activity timeout) and the caller bound it.
/// </summary>
internal sealed class AttemptResponseBody(IHttpResponseBodyFeature real, long holdLimit, bool holdAll) : Stream, IHttpResponseBodyFeature
{
    private enum Mode { Undecided, PassThrough, Hold, Discard }

    private const int WaitingForHeaders = 0, Streaming = 1, TimedOutPhase = 2;

    private MemoryStream? _held;
    private long _bytes;
    private Mode _mode;
    private int _phase;
    private CancellationTokenSource? _attempt;
    private CancellationToken _callerAborted;

    /// <summary>The answer must be held whole and rewritten (MCP <c>tools/list</c>).</summary>
    public bool HoldAll => holdAll;

    /// <summary>The upstream answer exceeded the hold limit and its read was cut.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>The total timeout fired before the answer was detached from it.</summary>
    public bool TimedOut => Volatile.Read(ref _phase) == TimedOutPhase;

    /// <summary>The status the upstream answered with (0 before its headers).</summary>
    public int UpstreamStatus { get; private set; }

    /// <summary>When the upstream's headers arrived (a Stopwatch timestamp), or 0.</summary>
    public long HeadersAt { get; private set; }

    public bool IsHeld => _mode == Mode.Hold;

    public ReadOnlySpan<byte> Held => _held is null ? default : _held.GetBuffer().AsSpan(0, (int)_held.Length);

    /// <summary>Starts an attempt: the token YARP forwards with, cancelled by the caller or the total timeout.</summary>
    public CancellationToken BeginAttempt(CancellationToken callerAborted)
    {
        _held?.SetLength(0);
        _bytes = 0;
        _mode = Mode.Undecided;
        Overflowed = false;
        HeadersAt = 0;
        UpstreamStatus = 0;
        Volatile.Write(ref _phase, WaitingForHeaders);
        _callerAborted = callerAborted;
        _attempt = CancellationTokenSource.CreateLinkedTokenSource(callerAborted);
        return _attempt.Token;
    }

    public void EndAttempt()
    {
        _attempt?.Dispose();
        _attempt = null;
    }

    /// <summary>The total timeout fired: cancel the attempt, unless its answer already streams.</summary>
    public void OnTotalTimeout()
    {
        // Polly's timeout token is linked to the caller's: a caller going away fires it too, and that is the
        // caller's doing, never a timeout of the upstream's (which would count against its circuit).
        if (_callerAborted.IsCancellationRequested)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref _phase, TimedOutPhase, WaitingForHeaders) == WaitingForHeaders)
        {
            try
            {
                _attempt?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // the attempt ended as the timeout fired
            }
        }
    }

    public void OnHeaders(HttpResponseMessage response)
    {
        HeadersAt = Stopwatch.GetTimestamp();
        var status = UpstreamStatus = (int)response.StatusCode;
        _mode = status >= 500 ? Mode.Discard : holdAll || status is 408 or 429 ? Mode.Hold : Mode.PassThrough;
        var streams = response.Content.Headers.ContentLength is null
                      || response.Content.Headers.ContentType?.MediaType?.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
        if (_mode == Mode.PassThrough && streams)
        {
            Interlocked.CompareExchange(ref _phase, Streaming, WaitingForHeaders);
        }
    }

    private ValueTask HoldAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        _bytes += buffer.Length;
        if (_bytes > holdLimit)
        {
            Overflowed = true;
            throw new IOException($"The upstream answer exceeds the {holdLimit}-byte hold limit.");
        }
        return _mode == Mode.Hold ? (_held ??= new MemoryStream()).WriteAsync(buffer, cancellationToken) : ValueTask.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_mode == Mode.Undecided)
        {
            _mode = holdAll ? Mode.Hold : Mode.PassThrough; // YARP writes no body before the upstream's headers; defensive
        }
        return _mode == Mode.PassThrough ? real.Stream.WriteAsync(buffer, cancellationToken) : HoldAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _mode == Mode.PassThrough ? real.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override void Flush() => FlushAsync().GetAwaiter().GetResult();

    // IHttpResponseBodyFeature
    public Stream Stream => this;

    public PipeWriter Writer => field ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => real.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) =>
        _mode == Mode.PassThrough ? real.StartAsync(cancellationToken) : Task.CompletedTask;

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("proxied responses are streamed, not sent as files");

    public Task CompleteAsync() => _mode == Mode.PassThrough ? real.CompleteAsync() : Task.CompletedTask;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
