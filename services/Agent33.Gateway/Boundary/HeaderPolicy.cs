using System.Buffers;
using System.Collections.Frozen;
using System.Net.Http.Headers;
using Microsoft.Extensions.Primitives;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The one header policy of every door (connector calls, the LLM APIs, MCP), applied to each upstream request:
/// <list type="bullet">
/// <item>hop-by-hop headers (RFC 9110 §7.6.1) and every header the caller names in <c>Connection</c> end at the gateway;</item>
/// <item><c>Host</c> is the destination's authority, never the gateway's;</item>
/// <item>the caller's credentials (<c>Authorization</c>, <c>X-Api-Key</c>, <c>Cookie</c>, <c>Proxy-Authorization</c>) never
/// go upstream; only the connector's own configured key does;</item>
/// <item>the headers that speak to the gateway (<c>X-Connector-*</c>, <c>X-Agent33-Domain</c>) stay here;</item>
/// <item>a pinned MCP session's <c>Mcp-Session-Id</c> (the gateway's id) goes upstream as the server's own id
/// (<see cref="Mcp.McpSessionAffinity"/>).</item>
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
        // One walk over what was copied (a handful of headers) rather than a look-up per rule.
        var connection = caller.Headers.Connection;
        List<(HttpHeaders From, string Name)>? drop = null;
        foreach (var header in upstream.Headers.NonValidated)
        {
            if (IsDropped(header.Key) || IsNamedIn(connection, header.Key))
            {
                (drop ??= []).Add((upstream.Headers, header.Key));
            }
        }
        if (upstream.Content is { } content && connection.Count > 0)
        {
            foreach (var header in content.Headers.NonValidated)
            {
                if (IsNamedIn(connection, header.Key))
                {
                    (drop ??= []).Add((content.Headers, header.Key));
                }
            }
        }
        foreach (var (from, name) in drop ?? [])
        {
            from.Remove(name);
        }
        upstream.Headers.Host = null; // the destination's authority, from the request URI
        Mcp.McpSessionAffinity.Restore(caller.HttpContext, upstream);
        if (connectorKey is { Length: > 0 })
        {
            upstream.Headers.Authorization = new AuthenticationHeaderValue("Bearer", connectorKey);
        }
    }

    /// <summary>Whether the caller's <c>Connection</c> header names <paramref name="name"/> (as one of its comma-separated tokens).</summary>
    private static bool IsNamedIn(StringValues connection, string name)
    {
        foreach (var value in connection)
        {
            var rest = (value ?? "").AsSpan();
            foreach (var range in rest.Split(','))
            {
                if (rest[range].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }
        return false;
    }

    private static readonly FrozenSet<string> DroppedNames = Dropped.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static bool IsDropped(string name) => DroppedNames.Contains(name);
}
