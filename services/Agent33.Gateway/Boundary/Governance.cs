using Agent33.Gateway.Catalog;
using Agent33.Gateway.Mcp;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Boundary;

/// <summary>Why a call is refused, and the operations that were denied (a batch counts only its denied elements).</summary>
public sealed record Denial(string Reason, IReadOnlyList<string> Operations);

/// <summary>The gateway's doors. Each is only a wire format; a door passes its name where a step must treat it apart.</summary>
public enum Door
{
    /// <summary><c>/connectors/{id}/…</c>, fast or routed.</summary>
    Connector,

    /// <summary>The LLM APIs under <c>/v1</c>, where budgets and accounting apply.</summary>
    Llm,
}

/// <summary>
/// Decides, before anything else, whether a call may pass: policy packs, block lists, MCP tool and argument rules. Every name a
/// call goes by is judged — the HTTP method, every method an override header names (<c>X-HTTP-Method-Override</c> …),
/// the caller's <c>X-Connector-Operation</c> label and each JSON-RPC method — case-insensitively, so neither a
/// label, an override nor a change of case can stand in for a blocked operation. An <c>llm</c> connector is reached
/// only through the LLM door, where budgets and accounting apply.
/// </summary>
public sealed class Governance(IOptions<GovernanceOptions> options)
{
    public Denial? Judge(ConnectorOptions connector, Door door, string httpMethod, string? label, McpRequest? mcp, IReadOnlyList<string>? methodOverrides = null)
    {
        if (door == Door.Connector && connector.Kind == "llm")
        {
            return new Denial($"Connector '{connector.Id}' is an LLM provider: call it through /v1/chat/completions, where budgets and accounting apply.",
                [label ?? httpMethod]);
        }
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

        foreach (var name in (IEnumerable<string>)[httpMethod, .. methodOverrides ?? [], .. label is null ? [] : new[] { label }])
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
            else if (message.Tool is { } called && connector.Tools.RefusingRule(called, message.Arguments) is { } rule)
            {
                Deny(message.Method, $"Argument rule '{rule.Name}' refuses {rule.Pointer} of tool '{called}' on connector '{connector.Id}'.");
            }
        }
        return reason is null ? null : new Denial(reason, denied);
    }
}
