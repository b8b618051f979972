using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The response body one attempt writes to. A final-looking answer (not a 5xx, not 408/429) streams straight
/// to the caller — no copy on the common path; a failure is held back in a buffer, so the pipeline can retry
/// or replace it with the contract's error. Answers the gateway must rewrite (MCP <c>tools/list</c>) are
/// always held.
/// </summary>
internal sealed class AttemptResponseBody(HttpContext http, IHttpResponseBodyFeature real, bool holdAll) : Stream, IHttpResponseBodyFeature
{
    private readonly MemoryStream _held = new();
    private bool? _passThrough;

    /// <summary>True once the answer went to the caller; the pipeline must then leave the response alone.</summary>
    public bool Committed => _passThrough == true;

    public MemoryStream Held => _held;

    /// <summary>Forgets a failed attempt's body before the next attempt.</summary>
    public void ResetAttempt()
    {
        _held.SetLength(0);
        _passThrough = null;
    }

    private bool Decide()
    {
        if (_passThrough is { } decided)
        {
            return decided;
        }
        var status = http.Response.StatusCode;
        _passThrough = !holdAll && status < 500 && status is not (408 or 429);
        return _passThrough.Value;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Decide())
        {
            await real.Stream.WriteAsync(buffer, cancellationToken);
        }
        else
        {
            await _held.WriteAsync(buffer, cancellationToken);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        Decide() ? real.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override void Flush() => FlushAsync().GetAwaiter().GetResult();

    // IHttpResponseBodyFeature
    public Stream Stream => this;

    public PipeWriter Writer => field ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => real.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) =>
        Decide() ? real.StartAsync(cancellationToken) : Task.CompletedTask;

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("proxied responses are streamed, not sent as files");

    public Task CompleteAsync() => Decide() ? real.CompleteAsync() : Task.CompletedTask;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
