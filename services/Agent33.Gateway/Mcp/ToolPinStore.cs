using Agent33.Gateway.Llm.Spend;
using Microsoft.EntityFrameworkCore;

namespace Agent33.Gateway.Mcp;

/// <summary>One tool's pin as stored: the approved definition and a pending change, each as canonical JSON and its hash.</summary>
public sealed record ToolPin(
    string Connector, string Tool, string ApprovedHash, string ApprovedDefinition, string? PendingHash, string? PendingDefinition,
    DateTimeOffset FirstSeenAt, DateTimeOffset? ChangedAt, DateTimeOffset? ApprovedAt, string? ApprovedBy)
{
    public bool IsWithheld => PendingHash is not null;

    internal static ToolPin From(McpToolPinRow row) => new(row.Connector, row.Tool, row.ApprovedHash, row.ApprovedDefinition, row.PendingHash,
        row.PendingDefinition, row.FirstSeenAt, row.ChangedAt, row.ApprovedAt, row.ApprovedBy);
}

/// <summary>What listing a definition did to its pin.</summary>
public enum PinObservation
{
    /// <summary>The tool was new: this definition is now pinned.</summary>
    Pinned,

    /// <summary>The approved definition, as pinned.</summary>
    Unchanged,

    /// <summary>A definition not seen before for this tool: recorded as pending by this very call (so counted and signalled once, whichever replica saw it).</summary>
    Changed,

    /// <summary>The pending definition again: recorded before.</summary>
    StillChanged,

    /// <summary>The approved definition again after a pending change: the change is dropped.</summary>
    Reverted,
}

public enum ApprovalResult
{
    Approved,
    NotFound,
    NothingPending,
    HashMismatch,
}

/// <summary>The pin store cannot answer (its database is down or unreachable): a door that cannot judge a tool refuses it.</summary>
public sealed class ToolPinsUnavailableException(Exception inner) : Exception("The pinned MCP tool definitions cannot be read right now.", inner);

/// <summary>
/// Where pins are kept: Postgres (shared by every replica) when <c>ConnectionStrings:gateway</c> is set, else this
/// process's memory, with the same semantics. Each write is one atomic step on the tool's row, so replicas agree.
/// </summary>
public interface IToolPinStore
{
    /// <summary>Every pin, or one connector's, by connector and tool.</summary>
    Task<IReadOnlyList<ToolPin>> ListAsync(string? connector, CancellationToken cancellationToken);

    /// <summary>The tools of <paramref name="connector"/> with a pending change (exact names).</summary>
    Task<IReadOnlyList<string>> WithheldAsync(string connector, CancellationToken cancellationToken);

    /// <summary>Records that <paramref name="definition"/> was listed: pinned if the tool is new (insert-if-absent), else judged against the pin.</summary>
    Task<(PinObservation Observation, ToolPin Pin)> ObserveAsync(string connector, ToolDefinition definition, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Makes the pending definition the approved one; with <paramref name="hash"/>, only if it is the pending one.</summary>
    Task<(ApprovalResult Result, ToolPin? Pin)> ApproveAsync(string connector, string tool, string? hash, string? approvedBy, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// Pins in the gateway's database. A new tool is pinned with <c>INSERT … ON CONFLICT DO NOTHING</c>: of replicas that
/// first see a tool at once one inserts, the others find its row and judge against it. A change is recorded by an
/// <c>UPDATE</c> that only matches while the row does not hold it yet, so exactly one replica learns it recorded it.
/// </summary>
public sealed class PostgresToolPinStore(IServiceScopeFactory scopes) : IToolPinStore
{
    public Task<IReadOnlyList<ToolPin>> ListAsync(string? connector, CancellationToken cancellationToken) => WithDbAsync<IReadOnlyList<ToolPin>>(async db =>
    {
        var rows = await db.McpToolPins.AsNoTracking().Where(p => connector == null || p.Connector == connector)
            .OrderBy(p => p.Connector).ThenBy(p => p.Tool).ToListAsync(cancellationToken);
        return [.. rows.Select(ToolPin.From)];
    }, cancellationToken);

    public Task<IReadOnlyList<string>> WithheldAsync(string connector, CancellationToken cancellationToken) => WithDbAsync<IReadOnlyList<string>>(async db =>
        await db.McpToolPins.AsNoTracking().Where(p => p.Connector == connector && p.PendingHash != null).Select(p => p.Tool).ToListAsync(cancellationToken),
        cancellationToken);

    public Task<(PinObservation Observation, ToolPin Pin)> ObserveAsync(string connector, ToolDefinition definition, DateTimeOffset now, CancellationToken cancellationToken) => WithDbAsync<(PinObservation, ToolPin)>(async db =>
    {
        var (tool, hash, canonical, at) = (definition.Name, definition.Hash, definition.Canonical, now.ToUniversalTime());
        var inserted = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO mcp_tool_pins (connector, tool, approved_hash, approved_definition, first_seen_at)
            VALUES ({connector}, {tool}, {hash}, {canonical}, {at})
            ON CONFLICT (connector, tool) DO NOTHING
            """, cancellationToken);
        PinObservation observation;
        if (inserted == 1)
        {
            observation = PinObservation.Pinned;
        }
        else
        {
            // The pending change becomes this definition (none when it is the approved one); only a row that does not
            // hold that already is updated, so the replica whose update counted is the one that saw the change first.
            var recorded = await db.Database.ExecuteSqlAsync($"""
                UPDATE mcp_tool_pins SET
                    pending_hash = CASE WHEN approved_hash = {hash} THEN NULL ELSE {hash} END,
                    pending_definition = CASE WHEN approved_hash = {hash} THEN NULL ELSE {canonical} END,
                    changed_at = CASE WHEN approved_hash = {hash} THEN changed_at ELSE {at} END
                WHERE connector = {connector} AND tool = {tool}
                  AND pending_hash IS DISTINCT FROM (CASE WHEN approved_hash = {hash} THEN NULL ELSE {hash} END)
                """, cancellationToken);
            observation = (recorded, await ApprovedHashAsync(db, connector, tool, cancellationToken) == hash) switch
            {
                (1, true) => PinObservation.Reverted,
                (1, false) => PinObservation.Changed,
                (_, true) => PinObservation.Unchanged,
                _ => PinObservation.StillChanged,
            };
        }
        var row = await db.McpToolPins.AsNoTracking().SingleAsync(p => p.Connector == connector && p.Tool == tool, cancellationToken);
        return (observation, ToolPin.From(row));
    }, cancellationToken);

    public Task<(ApprovalResult Result, ToolPin? Pin)> ApproveAsync(string connector, string tool, string? hash, string? approvedBy, DateTimeOffset now, CancellationToken cancellationToken) => WithDbAsync<(ApprovalResult, ToolPin?)>(async db =>
    {
        var at = now.ToUniversalTime();
        // One statement: a change recorded between an admin's review and this approval cannot be approved unseen when the hash is given.
        var approved = await db.Database.ExecuteSqlAsync($"""
            UPDATE mcp_tool_pins SET
                approved_hash = pending_hash, approved_definition = pending_definition,
                pending_hash = NULL, pending_definition = NULL, approved_at = {at}, approved_by = {approvedBy}
            WHERE connector = {connector} AND tool = {tool} AND pending_hash IS NOT NULL AND ({hash}::text IS NULL OR pending_hash = {hash}::text)
            """, cancellationToken);
        var row = await db.McpToolPins.AsNoTracking().SingleOrDefaultAsync(p => p.Connector == connector && p.Tool == tool, cancellationToken);
        if (row is null)
        {
            return (ApprovalResult.NotFound, null);
        }
        var pin = ToolPin.From(row);
        return approved == 1 ? (ApprovalResult.Approved, pin)
            : row.PendingHash is null ? (ApprovalResult.NothingPending, pin)
            : (ApprovalResult.HashMismatch, pin);
    }, cancellationToken);

    /// <summary>Runs <paramref name="work"/> on a context of its own; a database that cannot answer is <see cref="ToolPinsUnavailableException"/>.</summary>
    private async Task<T> WithDbAsync<T>(Func<GatewayDbContext, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        try
        {
            return await work(scope.ServiceProvider.GetRequiredService<GatewayDbContext>());
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new ToolPinsUnavailableException(ex);
        }
    }

    private static Task<string> ApprovedHashAsync(GatewayDbContext db, string connector, string tool, CancellationToken cancellationToken) =>
        db.McpToolPins.AsNoTracking().Where(p => p.Connector == connector && p.Tool == tool).Select(p => p.ApprovedHash).SingleAsync(cancellationToken);
}

/// <summary>Pins in this process only, for a gateway without a database (one replica, lost on restart): the same semantics under one lock.</summary>
public sealed class InMemoryToolPinStore : IToolPinStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Connector, string Tool), ToolPin> _pins = [];

    public Task<IReadOnlyList<ToolPin>> ListAsync(string? connector, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<ToolPin>>([.. _pins.Values.Where(p => connector is null || p.Connector == connector)
                .OrderBy(p => p.Connector, StringComparer.Ordinal).ThenBy(p => p.Tool, StringComparer.Ordinal)]);
        }
    }

    public Task<IReadOnlyList<string>> WithheldAsync(string connector, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<string>>([.. _pins.Values.Where(p => p.Connector == connector && p.IsWithheld).Select(p => p.Tool)]);
        }
    }

    public Task<(PinObservation Observation, ToolPin Pin)> ObserveAsync(string connector, ToolDefinition definition, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var key = (connector, definition.Name);
            if (!_pins.TryGetValue(key, out var pin))
            {
                _pins[key] = pin = new ToolPin(connector, definition.Name, definition.Hash, definition.Canonical, null, null, now, null, null, null);
                return Task.FromResult((PinObservation.Pinned, pin));
            }
            var isApproved = pin.ApprovedHash == definition.Hash;
            var pending = isApproved ? null : definition.Hash;
            if (pin.PendingHash == pending)
            {
                return Task.FromResult((isApproved ? PinObservation.Unchanged : PinObservation.StillChanged, pin));
            }
            _pins[key] = pin = isApproved
                ? pin with { PendingHash = null, PendingDefinition = null }
                : pin with { PendingHash = definition.Hash, PendingDefinition = definition.Canonical, ChangedAt = now };
            return Task.FromResult((isApproved ? PinObservation.Reverted : PinObservation.Changed, pin));
        }
    }

    public Task<(ApprovalResult Result, ToolPin? Pin)> ApproveAsync(string connector, string tool, string? hash, string? approvedBy, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_pins.TryGetValue((connector, tool), out var pin))
            {
                return Task.FromResult<(ApprovalResult, ToolPin?)>((ApprovalResult.NotFound, null));
            }
            if (pin.PendingHash is null)
            {
                return Task.FromResult<(ApprovalResult, ToolPin?)>((ApprovalResult.NothingPending, pin));
            }
            if (hash is not null && hash != pin.PendingHash)
            {
                return Task.FromResult<(ApprovalResult, ToolPin?)>((ApprovalResult.HashMismatch, pin));
            }
            _pins[(connector, tool)] = pin = pin with
            {
                ApprovedHash = pin.PendingHash, ApprovedDefinition = pin.PendingDefinition!, PendingHash = null, PendingDefinition = null,
                ApprovedAt = now, ApprovedBy = approvedBy,
            };
            return Task.FromResult<(ApprovalResult, ToolPin?)>((ApprovalResult.Approved, pin));
        }
    }
}
