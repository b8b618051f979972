using System.Buffers;
using System.Net.Http.Headers;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The one header policy of every door (connector calls, the LLM APIs, MCP), applied to each upstream request:
/// <list type="bullet">
/// <item>hop-by-hop headers (RFC 9110 §7.6.1) and every header the caller names in <c>Connection</c> end at the gateway;</item>
/// <item><c>Host</c> is the destination's authority, never the gateway's;</item>
/// <item>the caller's credentials (<c>Authorization</c>, <c>X-Api-Key</c>, <c>Cookie</c>, <c>Proxy-Authorization</c>) never
/// go upstream; only the connector's own configured key does;</item>
/// <item>the headers that speak to the gateway (<c>X-Connector-*</c>, <c>X-Agent33-Domain</c>) stay here.</item>
/// </list>
/// Method-override headers are forwarded only after governance judged the method they name (<see cref="MethodOverrides"/>).
/// </summary>
public static class HeaderPolicy
{
    public const string TimeoutHeader = "X-Connector-Timeout";
    public const string OperationHeader = "X-Connector-Operation";
    public const string DomainHeader = "X-Agent33-Domain";

    /// <summary>Headers that ask a server to treat a request as another method; governance judges the method they name.</summary>
    public static readonly string[] MethodOverrideHeaders = ["X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"];

    private static readonly string[] Dropped =
    [
        // RFC 9110 §7.6.1 and the proxy-era Proxy-Connection
        "Connection", "Proxy-Connection", "Keep-Alive", "TE", "Transfer-Encoding", "Upgrade", "Trailer",
        // the caller's credentials
        "Authorization", "X-Api-Key", "Cookie", "Proxy-Authorization",
        // what the caller tells the gateway
        TimeoutHeader, OperationHeader, CallerTargets.Header, DomainHeader,
    ];

    /// <summary>Visible ASCII, space and tab: what an HTTP/1.1 or HTTP/2 client sends in a header value.</summary>
    private static readonly SearchValues<char> Sendable = SearchValues.Create(
        "\t !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>
    /// The first header that would go upstream with a value the upstream request cannot carry (a byte outside visible
    /// ASCII), or null. Such a request is the caller's fault: refused before any connector is involved.
    /// </summary>
    public static string? FindUnsendable(IHeaderDictionary headers)
    {
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                if (value is not null && value.AsSpan().ContainsAnyExcept(Sendable) && !IsDropped(name))
                {
                    return name;
                }
            }
        }
        return null;
    }

    /// <summary>The methods the caller's override headers name, upper-cased; empty when it sends none.</summary>
    public static IReadOnlyList<string> MethodOverrides(IHeaderDictionary headers)
    {
        List<string>? methods = null;
        foreach (var header in MethodOverrideHeaders)
        {
            foreach (var value in headers[header])
            {
                if (!string.IsNullOrWhiteSpace(value))
                {
                    (methods ??= []).Add(value.Trim().ToUpperInvariant());
                }
            }
        }
        return methods ?? (IReadOnlyList<string>)[];
    }

    /// <summary>Applies the policy to an upstream request whose headers were copied from the caller's.</summary>
    public static void Apply(HttpRequest caller, HttpRequestMessage upstream, string? connectorKey)
    {
        foreach (var value in caller.Headers.Connection)
        {
            foreach (var range in (value ?? "").AsSpan().Split(','))
            {
                var token = (value ?? "").AsSpan()[range].Trim();
                if (!token.IsEmpty)
                {
                    Drop(upstream, token.ToString());
                }
            }
        }
        foreach (var name in Dropped)
        {
            Drop(upstream, name);
        }
        upstream.Headers.Host = null; // the destination's authority, from the request URI
        if (connectorKey is { Length: > 0 })
        {
            upstream.Headers.Authorization = new AuthenticationHeaderValue("Bearer", connectorKey);
        }
    }

    private static bool IsDropped(string name)
    {
        foreach (var dropped in Dropped)
        {
            if (dropped.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Removes a header wherever it sits; a name neither collection may hold (a caller's odd token) is simply absent.</summary>
    private static void Drop(HttpRequestMessage upstream, string name)
    {
        // NonValidated: a content header's name asked of the request's headers (or the reverse) is simply not there.
        if (upstream.Headers.NonValidated.Contains(name))
        {
            upstream.Headers.Remove(name);
        }
        if (upstream.Content?.Headers.NonValidated.Contains(name) == true)
        {
            upstream.Content.Headers.Remove(name);
        }
    }
}
