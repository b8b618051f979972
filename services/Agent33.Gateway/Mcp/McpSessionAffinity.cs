using System.Buffers.Binary;
using System.Buffers.Text;
using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Agent33.Gateway.Catalog;
using Microsoft.AspNetCore.DataProtection;
using Yarp.ReverseProxy.Model;

namespace Agent33.Gateway.Mcp;

/// <summary>How a request's <c>Mcp-Session-Id</c> was read.</summary>
public enum SessionPin
{
    /// <summary>No session: the request goes where load balancing sends it (an <c>initialize</c>, or a connector without affinity).</summary>
    None,

    /// <summary>The request is pinned to the destination that issued its session.</summary>
    Pinned,

    /// <summary>Not a session id this gateway issued for this connector (tampered, another connector's, or sealed with unknown keys).</summary>
    Unknown,

    /// <summary>A session id the gateway issued, whose destination is no longer configured (or available).</summary>
    Gone,
}

/// <summary>
/// Session affinity for <c>mcp</c> connectors, with no memory in any replica: the server's <c>Mcp-Session-Id</c> never
/// reaches the caller. The caller gets the gateway's own id instead, a Data Protection payload (keys shared by every
/// replica: the gateway's database, or the directory <c>Gateway:DataProtectionKeys</c>) holding the destination that
/// issued the session and the server's id, scoped to the connector. A request carrying it is pinned to that destination
/// on any replica and reaches the server with the server's own id. An id the gateway cannot open, or whose destination
/// is gone, answers 404: MCP's "session not found", on which the client starts a new session.
/// </summary>
/// <remarks>
/// <para>
/// One rule, three places it acts, all here: <see cref="Pin"/> (a step of the boundary, before load balancing),
/// <see cref="Restore"/> (part of <see cref="Boundary.HeaderPolicy"/>, on the upstream request) and <see cref="Issue"/>
/// (the response transform of every connector route).
/// </para>
/// <para>
/// YARP's own session affinity does not fit: its key is a header or cookie of its own that it adds to the answer and
/// forwards upstream unchanged, while MCP clients echo exactly the server's <c>Mcp-Session-Id</c> and the server must
/// get its own id back. Its key is also the destination's id, which this gateway derives from the destination's place
/// in the list; the token here holds the destination's address, so removing one destination strands only its sessions.
/// </para>
/// <para>
/// Every <c>mcp</c> connector, one destination or several: a caller never sees a server's id, and a connector that gains
/// a destination keeps its sessions. Connectors whose targets come from their callers (<c>AllowedHosts</c>) are left
/// alone: the caller picks the server there, and the session id passes as it is.
/// </para>
/// </remarks>
public sealed class McpSessionAffinity
{
    public const string Header = "Mcp-Session-Id";

    /// <summary>The Data Protection purpose; each connector's id is a sub-purpose, so one connector's ids open on no other.</summary>
    public const string Purpose = "Agent33.Gateway.McpSession";

    private const byte Version = 1;

    /// <summary>Far longer than any id this gateway issues; anything longer is not one, and is not decoded.</summary>
    private const int MaxTokenLength = 4096;

    private readonly FrozenDictionary<string, IDataProtector> _protectors;

    public McpSessionAffinity(IDataProtectionProvider provider, ConnectorCatalog catalog)
    {
        var root = provider.CreateProtector(Purpose);
        _protectors = catalog.Connectors.Values.Where(Applies)
            .ToFrozenDictionary(c => c.Id, c => root.CreateProtector(c.Id), StringComparer.Ordinal);
    }

    /// <summary>Whether the connector's MCP sessions go through the gateway's ids.</summary>
    public static bool Applies(ConnectorOptions connector) => connector.Kind == "mcp" && !connector.TakesCallerTargets;

    /// <summary>
    /// Reads the caller's <c>Mcp-Session-Id</c> and, for a session the gateway issued, narrows the proxy's available
    /// destinations to the one that issued it (load balancing then has one to pick, on every attempt) and keeps the
    /// server's id for <see cref="Restore"/>. Runs inside YARP's proxy pipeline, before load balancing.
    /// </summary>
    public SessionPin Pin(HttpContext http, string connectorId)
    {
        if (!_protectors.TryGetValue(connectorId, out var protector) || !http.Request.Headers.TryGetValue(Header, out var values))
        {
            return SessionPin.None;
        }
        if (values.Count != 1 || !TryOpen(protector, values[0], out var address, out var serverId))
        {
            return SessionPin.Unknown;
        }
        var proxy = http.GetReverseProxyFeature();
        foreach (var destination in proxy.AvailableDestinations)
        {
            if (string.Equals(destination.Model.Config.Address, address, StringComparison.Ordinal))
            {
                proxy.AvailableDestinations = destination;
                http.Features.Set(new McpSessionFeature(values[0]!, serverId));
                return SessionPin.Pinned;
            }
        }
        return SessionPin.Gone;
    }

    /// <summary>The upstream request carries the server's own session id, never the gateway's.</summary>
    public static void Restore(HttpContext http, HttpRequestMessage upstream)
    {
        if (http.Features.Get<McpSessionFeature>() is { } session)
        {
            upstream.Headers.Remove(Header);
            upstream.Headers.TryAddWithoutValidation(Header, session.ServerId);
        }
    }

    /// <summary>
    /// The answer's <c>Mcp-Session-Id</c> (copied from the upstream's) becomes the gateway's id for the destination that
    /// answered. The caller's own id is echoed when the server answered with the id it was sent, so a session keeps
    /// one id; anything else a server sends under that name is sealed too, or dropped, never passed on as it is.
    /// </summary>
    public void Issue(HttpContext http, string connectorId)
    {
        var headers = http.Response.Headers;
        if (!_protectors.TryGetValue(connectorId, out var protector) || !headers.TryGetValue(Header, out var issued))
        {
            return;
        }
        if (issued.Count != 1 || string.IsNullOrEmpty(issued[0]) || http.GetReverseProxyFeature().ProxiedDestination?.Model.Config.Address is not { } address)
        {
            headers.Remove(Header);
            return;
        }
        var serverId = issued[0]!;
        headers[Header] = http.Features.Get<McpSessionFeature>() is { } session && string.Equals(session.ServerId, serverId, StringComparison.Ordinal)
            ? session.Token
            : Seal(protector, address, serverId);
    }

    /// <summary>version, address length (big-endian int), address, server id; all UTF-8, then protected and Base64url-encoded (visible ASCII, as MCP requires).</summary>
    private static string Seal(IDataProtector protector, string address, string serverId)
    {
        var addressLength = Encoding.UTF8.GetByteCount(address);
        var plain = new byte[1 + sizeof(int) + addressLength + Encoding.UTF8.GetByteCount(serverId)];
        plain[0] = Version;
        BinaryPrimitives.WriteInt32BigEndian(plain.AsSpan(1), addressLength);
        Encoding.UTF8.GetBytes(address, plain.AsSpan(1 + sizeof(int)));
        Encoding.UTF8.GetBytes(serverId, plain.AsSpan(1 + sizeof(int) + addressLength));
        return Base64Url.EncodeToString(protector.Protect(plain));
    }

    private static bool TryOpen(IDataProtector protector, string? token, out string address, out string serverId)
    {
        address = serverId = "";
        // (TryDecodeFromChars throws on a character outside Base64url: any caller's string must be checked first.)
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength || !Base64Url.IsValid(token))
        {
            return false;
        }
        byte[] plain;
        try
        {
            plain = protector.Unprotect(Base64Url.DecodeFromChars(token));
        }
        catch (CryptographicException)
        {
            return false; // tampered, another connector's purpose, or keys this replica does not share
        }
        if (plain.Length < 1 + sizeof(int) || plain[0] != Version
            || BinaryPrimitives.ReadInt32BigEndian(plain.AsSpan(1)) is var length && (length < 0 || length > plain.Length - 1 - sizeof(int)))
        {
            return false;
        }
        address = Encoding.UTF8.GetString(plain, 1 + sizeof(int), length);
        serverId = Encoding.UTF8.GetString(plain, 1 + sizeof(int) + length, plain.Length - 1 - sizeof(int) - length);
        return serverId.Length > 0;
    }
}

/// <summary>The session a request was pinned to: the caller's id (the gateway's) and the server's own.</summary>
public sealed record McpSessionFeature(string Token, string ServerId);
