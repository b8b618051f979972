using System.IO.Pipelines;
using System.Net;
using Agent33.ServiceDefaults.RateLimiting;
using Microsoft.AspNetCore.Http.Features;

namespace Agent33.Gateway.Connectors;

/// <summary>
/// An <see cref="HttpMessageHandler"/> whose requests enter a connector's door inside this process: each one becomes an
/// <see cref="HttpContext"/> that meets the connector's admission (the caller's own key, sent along) and boundary as a
/// request from the network would, with no socket between — except the write limit, which charged the caller's own
/// request already (<see cref="ChargedWrite"/>). The answer streams back as it is written (event streams
/// included); disposing the answer's content is the caller going away.
/// </summary>
public sealed class InProcessDoorHandler(ConnectorDoor door, IHttpContextFactory contexts) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("A request needs an absolute URI.");
        var id = uri.AbsolutePath.StartsWith(ConnectorRoutes.PathPrefix + "/", StringComparison.Ordinal)
            ? uri.AbsolutePath[(ConnectorRoutes.PathPrefix.Length + 1)..].Split('/')[0] : "";
        if (!door.TryFind(Uri.UnescapeDataString(id), out var endpoint))
        {
            return new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request };
        }

        var body = request.Content is null ? Stream.Null : await request.Content.ReadAsStreamAsync(cancellationToken);
        var headers = new HeaderDictionary();
        foreach (var (name, values) in request.Headers.NonValidated)
        {
            headers.Append(name, values.ToArray());
        }
        foreach (var (name, values) in request.Content?.Headers.NonValidated ?? default)
        {
            headers.Append(name, values.ToArray());
        }
        headers["Host"] = uri.Authority;
        if (request.Content?.Headers.ContentLength is { } length) // computed on first read, so not among the headers above
        {
            headers.ContentLength = length;
        }
        var response = new PipeResponse(request);
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Scheme = uri.Scheme,
            Method = request.Method.Method,
            Path = Uri.UnescapeDataString(uri.AbsolutePath),
            QueryString = uri.Query,
            RawTarget = uri.PathAndQuery,
            Headers = headers,
            Body = body,
        });
        features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(request.Content is not null));
        // The caller's request to /mcp took its write token; what it causes at the connectors is the same write.
        features.Set(ChargedWrite.Feature);
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(response);
        features.Set<IHttpRequestLifetimeFeature>(response);
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = Guid.NewGuid().ToString("N"),
            RemoteIpAddress = IPAddress.Loopback,
            LocalIpAddress = IPAddress.Loopback,
        });

        var http = contexts.Create(features);
        using var cancelled = cancellationToken.Register(response.Abort);
        _ = RunAsync(http, endpoint, response);
        return await response.Started;
    }

    private async Task RunAsync(HttpContext http, Endpoint endpoint, PipeResponse response)
    {
        try
        {
            await door.InvokeAsync(http, endpoint);
            await response.CompleteAsync();
        }
        catch (Exception exception)
        {
            response.Fail(exception);
        }
        finally
        {
            await response.RunCompletedAsync();
            contexts.Dispose(http);
        }
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => canHaveBody;
    }

    /// <summary>The answer as the door writes it: status and headers published at the first byte (or the end), the body through a pipe.</summary>
    private sealed class PipeResponse : IHttpResponseFeature, IHttpResponseBodyFeature, IHttpRequestLifetimeFeature
    {
        private readonly HttpRequestMessage _request;
        private readonly Pipe _pipe = new();
        private readonly TaskCompletionSource<HttpResponseMessage> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _aborted = new();
        private readonly List<(Func<object, Task> Callback, object State)> _onStarting = [], _onCompleted = [];
        private readonly Stream _stream;
        private PipeWriter? _writer;
        private volatile bool _finished;

        public PipeResponse(HttpRequestMessage request)
        {
            _request = request;
            _stream = new StartingStream(this);
            RequestAborted = _aborted.Token;
        }

        public Task<HttpResponseMessage> Started => _started.Task;

        public int StatusCode { get; set; } = StatusCodes.Status200OK;
        public string? ReasonPhrase { get; set; }
        public IHeaderDictionary Headers { get; set; } = new HeaderDictionary();
        public bool HasStarted { get; private set; }
        public CancellationToken RequestAborted { get; set; }

        [Obsolete("Use IHttpResponseBodyFeature.")]
        public Stream Body { get => _stream; set => throw new NotSupportedException(); }

        Stream IHttpResponseBodyFeature.Stream => _stream;
        public PipeWriter Writer => _writer ??= PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));

        public void OnStarting(Func<object, Task> callback, object state) => _onStarting.Add((callback, state));
        public void OnCompleted(Func<object, Task> callback, object state) => _onCompleted.Add((callback, state));
        public void DisableBuffering() { }

        public void Abort()
        {
            _aborted.Cancel();
            _started.TrySetCanceled();
        }

        public async Task StartAsync(CancellationToken cancellationToken = default)
        {
            if (HasStarted)
            {
                return;
            }
            for (var i = _onStarting.Count - 1; i >= 0; i--)
            {
                await _onStarting[i].Callback(_onStarting[i].State);
            }
            HasStarted = true;
            var message = new HttpResponseMessage((HttpStatusCode)StatusCode)
            {
                RequestMessage = _request,
                Content = new StreamContent(new ReadingStream(_pipe.Reader.AsStream(), this)),
            };
            if (ReasonPhrase is not null)
            {
                message.ReasonPhrase = ReasonPhrase;
            }
            foreach (var (name, values) in Headers)
            {
                if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                {
                    message.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }
            _started.TrySetResult(message);
        }

        public async Task CompleteAsync()
        {
            await StartAsync();
            if (_writer is not null)
            {
                await _writer.FlushAsync();
            }
            await _pipe.Writer.CompleteAsync();
        }

        public void Fail(Exception exception)
        {
            if (!_started.TrySetException(exception))
            {
                _pipe.Writer.Complete(exception);
            }
        }

        public async Task RunCompletedAsync()
        {
            _finished = true;
            for (var i = _onCompleted.Count - 1; i >= 0; i--)
            {
                await _onCompleted[i].Callback(_onCompleted[i].State);
            }
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
            SendFileFallback.SendFileAsync(_stream, path, offset, count, cancellationToken);

        internal async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            await StartAsync(cancellationToken);
            Written(await _pipe.Writer.WriteAsync(bytes, cancellationToken));
        }

        internal async Task FlushAsync(CancellationToken cancellationToken)
        {
            await StartAsync(cancellationToken);
            Written(await _pipe.Writer.FlushAsync(cancellationToken));
        }

        /// <summary>As a socket: a write after the caller closed the answer is the caller gone.</summary>
        private void Written(FlushResult result)
        {
            if (result.IsCompleted)
            {
                Abort();
                throw new OperationCanceledException("The caller closed the answer.", RequestAborted);
            }
        }

        /// <summary>
        /// The caller closed the answer: a caller that read what it needed may close before the door has finished its
        /// bookkeeping, which is no abort; a door still writing sees it at its next write, and one still running a
        /// moment later (an idle event stream) is aborted then.
        /// </summary>
        public void ReaderGone()
        {
            if (_finished)
            {
                return;
            }
            _ = Task.Delay(TimeSpan.FromSeconds(1)).ContinueWith(_ =>
            {
                if (!_finished)
                {
                    Abort();
                }
            }, TaskScheduler.Default);
        }
    }

    /// <summary>The door's view of the body: the first write or flush publishes the status and headers.</summary>
    private sealed class StartingStream(PipeResponse response) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => response.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => response.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();
        public override Task FlushAsync(CancellationToken cancellationToken) => response.FlushAsync(cancellationToken);
        public override void Flush() => FlushAsync().GetAwaiter().GetResult();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>The caller's view of the body; closing it before the end is the caller going away.</summary>
    private sealed class ReadingStream(Stream inner, PipeResponse response) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.ReaderGone();
            }
            base.Dispose(disposing);
        }
    }
}
