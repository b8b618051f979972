using System.Buffers;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.Learning.Apis;

/// <summary>
/// Large uploads (restores, legacy imports) are written to a temporary file as they arrive, within a configured
/// size, and read from there: the body never sits in memory, and nothing is locked or written while a slow
/// client is still sending.
/// </summary>
internal static class Uploads
{
    /// <summary>
    /// The request body in a temporary file (deleted when disposed), positioned at its start; or the 413 to answer
    /// when it is larger than <paramref name="limit"/> bytes (<paramref name="setting"/> names the limit).
    /// </summary>
    public static async Task<(FileStream? Body, ProblemHttpResult? TooLarge)> SpoolAsync(HttpContext http, long limit, string setting, CancellationToken ct)
    {
        if (http.Request.ContentLength > limit)
        {
            return (null, TooLarge(limit, setting));
        }
        // Kestrel stops a body past the limit too (413), whether or not it declared its length.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }
        var file = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long total = 0;
            while (true)
            {
                int read;
                try
                {
                    read = await http.Request.Body.ReadAsync(buffer, ct);
                }
                catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    await file.DisposeAsync();
                    return (null, TooLarge(limit, setting));
                }
                if (read == 0)
                {
                    break;
                }
                total += read;
                if (total > limit)
                {
                    await file.DisposeAsync();
                    return (null, TooLarge(limit, setting));
                }
                await file.WriteAsync(buffer.AsMemory(0, read), ct);
            }
            await file.FlushAsync(ct);
            file.Position = 0;
            return (file, null);
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ProblemHttpResult TooLarge(long limit, string setting) =>
        ApiProblem.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large",
            $"The body is larger than {limit} bytes, the limit set by {setting}.");
}
