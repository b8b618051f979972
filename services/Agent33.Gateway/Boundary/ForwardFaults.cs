using System.Net.Sockets;
using System.Security.Authentication;

namespace Agent33.Gateway.Boundary;

/// <summary>Whose fault a failed send was: the request's (it could not be built) or the way to the upstream's.</summary>
internal static class ForwardFaults
{
    /// <summary>
    /// The HTTP client refused the request itself — a header value it cannot encode, a target it cannot address — before
    /// any byte reached the upstream. A refused or reset connection, a name that does not resolve or a TLS failure is the
    /// upstream's side and is never this.
    /// </summary>
    public static bool IsUnsendableRequest(Exception? exception) => exception switch
    {
        HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } => false,
        HttpRequestException request => !HasTransportCause(request),
        ArgumentException or FormatException or InvalidOperationException or NotSupportedException => true,
        _ => false,
    };

    private static bool HasTransportCause(Exception exception)
    {
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is IOException or SocketException or AuthenticationException or OperationCanceledException)
            {
                return true;
            }
        }
        return false;
    }
}
