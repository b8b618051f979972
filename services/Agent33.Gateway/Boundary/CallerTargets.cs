using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Agent33.Gateway.Catalog;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// Caller-supplied targets (<c>X-Connector-Target</c>) for connectors that fetch what the caller asks for: the
/// host (and port, where pinned) must match the connector's <c>AllowedHosts</c>, and unless <c>AllowPrivateNetworks</c> no
/// address it resolves to may be in a special-purpose range (loopback, private, link-local incl. cloud metadata, NAT64, 6to4 …) —
/// checked before the call and again when the socket connects, so a DNS answer that changes in between
/// (rebinding) is refused too. Redirects are passed back to the caller, never followed by the gateway.
/// </summary>
public static class CallerTargets
{
    public const string Header = "X-Connector-Target";
    public const string ItemKey = "agent33.caller-target";

    /// <summary>The validated target, or why it is refused.</summary>
    public static async Task<(Uri? Target, string? Refusal)> ResolveAsync(HttpContext http, ConnectorOptions connector, TargetSockets sockets)
    {
        if (http.Request.Headers[Header].FirstOrDefault() is not { Length: > 0 } text)
        {
            return (null, $"Connector '{connector.Id}' needs the target URL in the {Header} header.");
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(target.UserInfo))
        {
            return (null, $"{Header} must be an absolute http(s) URL without credentials.");
        }
        if (!connector.AllowedHosts.Any(entry => HostMatches(entry, target)))
        {
            return (null, $"Host '{target.IdnHost}' (port {target.Port}) is not in the allowed hosts of connector '{connector.Id}'.");
        }
        if (!connector.AllowPrivateNetworks)
        {
            IPAddress[] addresses;
            try
            {
                addresses = IPAddress.TryParse(target.IdnHost.Trim('[', ']'), out var literal) ? [literal] : await sockets.ResolveAsync(target.IdnHost, http.RequestAborted);
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

    // The IANA IPv4 and IPv6 special-purpose address registries (RFC 6890 and successors), plus multicast and
    // the reserved ranges: none of these is an ordinary public host a caller may make the gateway reach.
    private static readonly IPNetwork[] SpecialPurpose =
    [
        .. new[]
        {
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
            "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
            "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
            // ::/8 holds the unspecified and loopback addresses and the IPv4-compatible ::a.b.c.d; 64:ff9b::/96 and
            // 64:ff9b:1::/48 are NAT64 (they reach IPv4 hosts behind a translator), 2002::/16 is 6to4.
            "::/8", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16",
            "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
        }.Select(IPNetwork.Parse),
    ];

    /// <summary>Whether an address is in a special-purpose range (an IPv4-mapped IPv6 address is judged as its IPv4 address).</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        foreach (var network in SpecialPurpose)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// An <c>AllowedHosts</c> entry is a host glob (<c>*.example.com</c>), optionally pinned to a port
    /// (<c>api.example.com:443</c>, <c>[2001:db8::1]:8443</c>); without a port any port is allowed.
    /// </summary>
    private static bool HostMatches(string entry, Uri target)
    {
        var (host, port) = SplitEntry(entry);
        return (port is null || port == target.Port)
               && Regex.IsMatch(target.IdnHost, "^" + Regex.Escape(host).Replace("\\*", "[^.]+(\\.[^.]+)*") + "$",
                   RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
    }

    private static (string Host, int? Port) SplitEntry(string entry)
    {
        var portAt = entry.StartsWith('[') ? entry.IndexOf("]:", StringComparison.Ordinal) + 1 : entry.IndexOf(':');
        if (portAt > 0 && entry.IndexOf(':', portAt + 1) < 0
            && int.TryParse(entry.AsSpan(portAt + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return (entry[..portAt], port);
        }
        return (entry, null);
    }

    /// <summary>The forwarder's HTTP handlers: for caller-target connectors, every connect re-checks the address.</summary>
    public sealed class GuardedClientFactory(ConnectorCatalog catalog, TargetSockets sockets) : ForwarderHttpClientFactory
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
                var addresses = await sockets.ResolveAsync(connect.DnsEndPoint.Host, cancellationToken);
                var allowed = addresses.Where(a => !IsPrivate(a)).ToArray();
                if (allowed.Length == 0)
                {
                    throw new HttpRequestException($"Refused: '{connect.DnsEndPoint.Host}' resolves only to non-public addresses.");
                }
                return await sockets.ConnectAsync(allowed, connect.DnsEndPoint.Port, cancellationToken);
            };
        }
    }
}

/// <summary>Name resolution and connects for caller targets; tests replace it to see every address before a connect.</summary>
public class TargetSockets
{
    public virtual Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);

    public virtual async ValueTask<Stream> ConnectAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
