using Agent33.Gateway.Catalog;
using Agent33.Gateway.Mcp;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Boundary;

/// <summary>Why a call is refused, and the operations that were denied (a batch counts only its denied elements).</summary>
public sealed record Denial(string Reason, IReadOnlyList<string> Operations);

/// <summary>
/// Decides, before anything else, whether a call may pass: policy packs, block lists, MCP tool rules. Every name a
/// call goes by is judged — the HTTP method, the caller's <c>X-Connector-Operation</c> label and each JSON-RPC
/// method — case-insensitively, so neither a label nor a change of case can stand in for a blocked operation.
/// </summary>
public sealed class Governance(IOptions<GovernanceOptions> options)
{
    public Denial? Judge(ConnectorOptions connector, string httpMethod, string? label, McpRequest? mcp)
    {
        var global = options.Value;
        var pack = connector.PolicyPack ?? global.PolicyPack;
        var (packConnectors, packOperations) = PolicyPacks.BlocksOf(pack);
        var primary = label ?? httpMethod;
        if (packConnectors.Contains(connector.Id))
        {
            return new Denial($"The '{pack}' policy pack blocks connector '{connector.Id}'.", [primary]);
        }
        if (global.BlockedConnectors.Contains(connector.Id))
        {
            return new Denial($"Connector '{connector.Id}' is blocked (Governance:BlockedConnectors).", [primary]);
        }

        if (mcp is null && packOperations.Length == 0 && global.BlockedOperations.Count == 0)
        {
            return null; // no operation is blocked and no message names a tool: nothing more to judge
        }

        string? reason = null;
        var denied = new List<string>();
        void Deny(string operation, string why)
        {
            reason ??= why;
            denied.Add(operation);
        }
        string? Blocked(string operation) =>
            packOperations.Contains(operation, StringComparer.OrdinalIgnoreCase) ? $"The '{pack}' policy pack blocks operation '{operation}'."
            : global.BlockedOperations.Contains(operation, StringComparer.OrdinalIgnoreCase) ? $"Operation '{operation}' is blocked (Governance:BlockedOperations)."
            : null;

        foreach (var name in label is null ? [httpMethod] : new[] { httpMethod, label })
        {
            if (Blocked(name) is { } why)
            {
                Deny(name, why);
            }
        }
        foreach (var message in mcp?.Messages ?? [])
        {
            if (Blocked(message.Method) is { } why)
            {
                Deny(message.Method, why);
            }
            else if (message.Tool is { } tool && !connector.Tools.Allows(tool))
            {
                Deny(message.Method, $"Tool '{tool}' is not allowed on connector '{connector.Id}'.");
            }
        }
        return reason is null ? null : new Denial(reason, denied);
    }
}
