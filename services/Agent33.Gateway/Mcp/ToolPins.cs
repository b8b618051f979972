using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Agent33.Gateway.Signals;

namespace Agent33.Gateway.Mcp;

/// <summary><c>Mcp:Pinning</c>: what a changed tool definition does.</summary>
public enum PinningMode
{
    /// <summary>Withheld from <c>tools/list</c>, its calls refused (403 <c>tool_definition_changed</c>) until approved.</summary>
    Enforce,

    /// <summary>Counted, signalled and logged; listed and callable as before.</summary>
    Warn,

    /// <summary>No pins are kept or judged.</summary>
    Off,
}

/// <summary>The pinning settings, read once at start-up.</summary>
public sealed record PinningSettings(PinningMode Mode)
{
    public const string Key = "Mcp:Pinning";

    /// <summary>The mode <paramref name="value"/> names (none: <c>enforce</c>); a bad value stops the gateway at start-up.</summary>
    public static PinningSettings Parse(string? value) => string.IsNullOrWhiteSpace(value) ? new(PinningMode.Enforce) : value.Trim().ToLowerInvariant() switch
    {
        "enforce" => new(PinningMode.Enforce),
        "warn" => new(PinningMode.Warn),
        "off" => new(PinningMode.Off),
        _ => throw new InvalidOperationException($"{Key} must be enforce, warn or off, not '{value}'."),
    };
}

/// <summary>
/// Pinned tool definitions (<see cref="IToolPins"/>) over a <see cref="IToolPinStore"/>. A tool is pinned the first time
/// it is listed; a later listing with another definition (by <see cref="ToolDefinitions">canonical hash</see>) records a
/// pending change, which is counted (<c>mcp_tool_definition_changes_total</c>) and posted as one learning signal by the
/// replica that recorded it, and — in <see cref="PinningMode.Enforce"/> — withholds the tool and refuses its calls until
/// an admin approves. Every failure of the store reaches the caller as an exception, so each door fails closed.
/// </summary>
public sealed partial class ToolPins(
    IToolPinStore store, PinningSettings settings, IncidentSignals signals, TimeProvider clock, IMeterFactory meters, ILogger<ToolPins> logger) : IToolPins
{
    private readonly Counter<long> _changes = meters.Create(Boundary.GatewayMetrics.MeterName).CreateCounter<long>(
        "mcp_tool_definition_changes_total", description: "MCP tool definitions that changed from the pinned one (each new definition once), by connector.");

    public PinningMode Mode => settings.Mode;

    public bool Judges => settings.Mode != PinningMode.Off;

    public async ValueTask<IReadOnlyList<JsonObject>> FilterAsync(string connector, IReadOnlyList<JsonObject> tools, CancellationToken cancellationToken)
    {
        if (settings.Mode == PinningMode.Off || tools.Count == 0)
        {
            return tools;
        }
        // One read for the whole list; a write only for a tool that is new or not as pinned.
        var pins = (await store.ListAsync(connector, cancellationToken)).ToDictionary(p => p.Tool, StringComparer.Ordinal);
        var shown = new List<JsonObject>(tools.Count);
        foreach (var tool in tools)
        {
            if (ToolDefinitions.TryOf(tool) is not { } definition)
            {
                // Nothing to pin: it cannot be judged, so under enforce it is not shown.
                LogUnreadable(logger, connector);
                if (settings.Mode == PinningMode.Warn)
                {
                    shown.Add(tool);
                }
                continue;
            }
            if (pins.TryGetValue(definition.Name, out var known) && (known.PendingHash ?? known.ApprovedHash) == definition.Hash)
            {
                // As recorded already (the approved definition, or the change pending): nothing to write.
                if (!known.IsWithheld || settings.Mode == PinningMode.Warn)
                {
                    shown.Add(tool);
                }
                continue;
            }
            var (observation, pin) = await store.ObserveAsync(connector, definition, clock.GetUtcNow(), cancellationToken);
            switch (observation)
            {
                case PinObservation.Changed:
                    Changed(connector, pin);
                    break;
                case PinObservation.Reverted:
                    LogReverted(logger, connector, definition.Name);
                    break;
            }
            if (observation is PinObservation.Pinned or PinObservation.Unchanged or PinObservation.Reverted || settings.Mode == PinningMode.Warn)
            {
                shown.Add(tool);
            }
        }
        return shown;
    }

    public async ValueTask<string?> RefuseCallAsync(string connector, string tool, CancellationToken cancellationToken)
    {
        if (settings.Mode != PinningMode.Enforce)
        {
            return null;
        }
        // Any case: a server that ignores the case of tool names would run the changed tool for another spelling.
        foreach (var withheld in await store.WithheldAsync(connector, cancellationToken))
        {
            if (string.Equals(withheld, tool, StringComparison.OrdinalIgnoreCase))
            {
                return $"The definition of tool '{withheld}' of connector '{connector}' changed since it was approved; its calls are refused "
                       + $"until an admin approves the new definition (POST /v1/mcp/tools/{connector}/{withheld}/approve).";
            }
        }
        return null;
    }

    private void Changed(string connector, ToolPin pin)
    {
        var fields = ToolDefinitions.Diff(pin.ApprovedDefinition, pin.PendingDefinition!).Select(c => c.Path).ToList();
        // By connector only: tool names come from the server, and a metric label must stay bounded.
        _changes.Add(1, new KeyValuePair<string, object?>("connector", connector));
        signals.ToolDefinitionChanged(connector, pin.Tool, pin.ApprovedHash, pin.PendingHash!, fields, settings.Mode);
        LogChanged(logger, connector, pin.Tool, pin.ApprovedHash, pin.PendingHash!, string.Join(", ", fields), settings.Mode);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "MCP tool {Tool} of connector {Connector} changed its definition ({Approved} -> {Pending}; {Fields}); pinning mode {Mode}")]
    private static partial void LogChanged(ILogger logger, string connector, string tool, string approved, string pending, string fields, PinningMode mode);

    [LoggerMessage(Level = LogLevel.Information, Message = "MCP tool {Tool} of connector {Connector} lists its approved definition again; its pending change is dropped")]
    private static partial void LogReverted(ILogger logger, string connector, string tool);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connector {Connector} listed a tool whose definition cannot be read (no string name, or text that is not Unicode)")]
    private static partial void LogUnreadable(ILogger logger, string connector);
}
