using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Agent33.Gateway.Connectors;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// Caller-supplied targets (<c>X-Connector-Target</c>) for connectors that fetch what the caller asks for: the
/// host must match the connector's <c>AllowedHosts</c>, and unless <c>AllowPrivateNetworks</c> no address it
/// resolves to may be loopback, private, link-local (cloud metadata), unique-local, shared or unspecified —
/// checked before the call and again when the socket connects, so a DNS answer that changes in between
/// (rebinding) is refused too. Redirects are passed back to the caller, never followed by the gateway.
/// </summary>
public static class CallerTargets
{
    public const string Header = "X-Connector-Target";
    public const string ItemKey = "agent33.caller-target";

    /// <summary>The validated target, or why it is refused.</summary>
    public static async Task<(Uri? Target, string? Refusal)> ResolveAsync(HttpContext http, ConnectorOptions connector)
    {
        if (http.Request.Headers[Header].FirstOrDefault() is not { Length: > 0 } text)
        {
            return (null, $"Connector '{connector.Id}' needs the target URL in the {Header} header.");
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(target.UserInfo))
        {
            return (null, $"{Header} must be an absolute http(s) URL without credentials.");
        }
        if (!connector.AllowedHosts.Any(glob => HostMatches(glob, target.IdnHost)))
        {
            return (null, $"Host '{target.IdnHost}' is not in the allowed hosts of connector '{connector.Id}'.");
        }
        if (!connector.AllowPrivateNetworks)
        {
            IPAddress[] addresses;
            try
            {
                addresses = IPAddress.TryParse(target.IdnHost.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(target.IdnHost, http.RequestAborted);
            }
            catch (SocketException)
            {
                return (null, $"Host '{target.IdnHost}' does not resolve.");
            }
            if (addresses.FirstOrDefault(IsPrivate) is { } blocked)
            {
                return (null, $"Host '{target.IdnHost}' resolves to a non-public address ({blocked}); private networks are not allowed for connector '{connector.Id}'.");
            }
        }
        return (target, null);
    }

    /// <summary>Loopback, RFC 1918, link-local (169.254/16 incl. metadata, fe80::/10), CGNAT 100.64/10, ULA fc00::/7, unspecified, multicast.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return true;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] is 10 or 0 or >= 224
                   || (b[0] == 172 && b[1] is >= 16 and <= 31)
                   || (b[0] == 192 && b[1] == 168)
                   || (b[0] == 169 && b[1] == 254)
                   || (b[0] == 100 && b[1] is >= 64 and <= 127);
        }
        return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (address.GetAddressBytes()[0] & 0xFE) == 0xFC;
    }

    private static bool HostMatches(string glob, string host) =>
        Regex.IsMatch(host, "^" + Regex.Escape(glob).Replace("\\*", "[^.]+(\\.[^.]+)*") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));

    /// <summary>The forwarder's HTTP handlers: for caller-target connectors, every connect re-checks the address.</summary>
    public sealed class GuardedClientFactory(ConnectorCatalog catalog) : ForwarderHttpClientFactory
    {
        protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
        {
            base.ConfigureHandler(context, handler);
            if (!catalog.Connectors.TryGetValue(context.ClusterId, out var connector) || !connector.TakesCallerTargets || connector.AllowPrivateNetworks)
            {
                return;
            }
            handler.ConnectCallback = async (connect, cancellationToken) =>
            {
                var addresses = await Dns.GetHostAddressesAsync(connect.DnsEndPoint.Host, cancellationToken);
                var allowed = addresses.Where(a => !IsPrivate(a)).ToArray();
                if (allowed.Length == 0)
                {
                    throw new HttpRequestException($"Refused: '{connect.DnsEndPoint.Host}' resolves only to non-public addresses.");
                }
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(allowed, connect.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
    }
}
