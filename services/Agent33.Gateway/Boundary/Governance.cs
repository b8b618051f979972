using System.Text.RegularExpressions;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Mcp;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Boundary;

/// <summary>Decides, before anything else, whether a call may pass: policy packs, block lists, MCP tool rules.</summary>
public sealed class Governance(IOptions<GovernanceOptions> options)
{
    /// <summary>Why the call is refused, or null when it may pass.</summary>
    public string? Deny(ConnectorOptions connector, IReadOnlyList<string> operations, McpRequest? mcp)
    {
        var global = options.Value;
        var pack = connector.PolicyPack ?? global.PolicyPack;
        var (packConnectors, packOperations) = PolicyPacks.BlocksOf(pack);
        if (packConnectors.Contains(connector.Id))
        {
            return $"The '{pack}' policy pack blocks connector '{connector.Id}'.";
        }
        if (global.BlockedConnectors.Contains(connector.Id))
        {
            return $"Connector '{connector.Id}' is blocked (Governance:BlockedConnectors).";
        }
        foreach (var operation in operations)
        {
            if (packOperations.Contains(operation))
            {
                return $"The '{pack}' policy pack blocks operation '{operation}'.";
            }
            if (global.BlockedOperations.Contains(operation))
            {
                return $"Operation '{operation}' is blocked (Governance:BlockedOperations).";
            }
        }
        foreach (var tool in mcp?.CalledTools ?? [])
        {
            if (!ToolAllowed(connector.Tools, tool))
            {
                return $"Tool '{tool}' is not allowed on connector '{connector.Id}'.";
            }
        }
        return null;
    }

    public static bool ToolAllowed(ToolRules rules, string tool) =>
        !rules.Deny.Any(glob => Matches(glob, tool)) && (rules.Allow.Count == 0 || rules.Allow.Any(glob => Matches(glob, tool)));

    private static bool Matches(string glob, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(glob).Replace("\\*", ".*").Replace("\\?", ".") + "$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
}
