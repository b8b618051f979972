namespace Agent33.Gateway.Boundary;

/// <summary>What reading the caller's body into a rewindable buffer came to.</summary>
internal enum BodyRead
{
    Buffered,

    /// <summary>Over <c>Governance:MaxBufferedBodyBytes</c> (or Kestrel's request limit): the caller's fault, 413.</summary>
    TooLarge,

    /// <summary>Cut short or malformed framing: the caller's fault, 400.</summary>
    Unreadable,

    CallerGone,
}

/// <summary>
/// The first step: the caller's body, read whole when governance must judge it (every MCP body) or a retry may have
/// to resend it. A body that cannot be read is the caller's fault, answered here, before any upstream is involved.
/// </summary>
internal static class RequestBody
{
    /// <summary>
    /// Whether the request has a body: as the server says (and as YARP's forwarder decides what to send), so a body the
    /// forwarder would send is never one the boundary did not judge.
    /// </summary>
    public static bool IsPresent(HttpRequest request) =>
        request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody
        ?? (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0);

    public static async Task<BodyRead> BufferAsync(HttpContext http, long limit)
    {
        if (http.Request.ContentLength > limit)
        {
            return BodyRead.TooLarge;
        }
        http.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: limit);
        try
        {
            await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted); // reads it into the buffer
        }
        catch (BadHttpRequestException bad)
        {
            return bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? BodyRead.TooLarge : BodyRead.Unreadable;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return BodyRead.CallerGone;
        }
        catch (IOException) when (http.RequestAborted.IsCancellationRequested)
        {
            return BodyRead.CallerGone;
        }
        catch (IOException) // the buffer's own limit: a chunked body longer than it
        {
            return BodyRead.TooLarge;
        }
        http.Request.Body.Position = 0;
        return BodyRead.Buffered;
    }

    public static async Task<byte[]> ReadBufferedAsync(HttpContext http)
    {
        var bytes = new byte[http.Request.Body.Length];
        await http.Request.Body.ReadExactlyAsync(bytes, http.RequestAborted);
        http.Request.Body.Position = 0;
        return bytes;
    }
}
