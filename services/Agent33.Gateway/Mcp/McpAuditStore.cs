using Agent33.Gateway.Llm.Spend;
using Agent33.ServiceDefaults.Pages;
using Microsoft.EntityFrameworkCore;

namespace Agent33.Gateway.Mcp;

/// <summary>What a read of the audit trail asks for: one tenant's records, optionally of one tool, connector or outcome.</summary>
public sealed record McpAuditFilter(string Tenant, string? Tool = null, string? Connector = null, string? Outcome = null)
{
    /// <summary>The filter and the page, newest first: one query for the database and for memory.</summary>
    public Task<Page<McpAuditRow>> PageAsync(IQueryable<McpAuditRow> rows, PageQuery page, CancellationToken cancellationToken)
    {
        rows = rows.Where(r => r.TenantId == Tenant);
        if (Tool is not null)
        {
            rows = rows.Where(r => r.Tool == Tool);
        }
        if (Connector is not null)
        {
            rows = rows.Where(r => r.Connector == Connector);
        }
        if (Outcome is not null)
        {
            rows = rows.Where(r => r.Outcome == Outcome);
        }
        return rows.NewestFirst(page, r => r.At, r => r.Id).TakePageAsync(page.Limit, r => new PageCursor(r.At, r.Id), r => r, cancellationToken);
    }
}

/// <summary>
/// Where the MCP audit trail is kept: Postgres (every replica writes and reads one trail) when
/// <c>ConnectionStrings:gateway</c> is set, else this process's memory, bounded, with the same semantics.
/// </summary>
public interface IMcpAuditStore
{
    Task AddAsync(IReadOnlyList<McpAuditRow> rows, CancellationToken cancellationToken);

    Task<Page<McpAuditRow>> ListAsync(McpAuditFilter filter, PageQuery page, CancellationToken cancellationToken);

    /// <summary>Deletes every record from before <paramref name="before"/>; returns how many.</summary>
    Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken);
}

/// <summary>The audit trail in the gateway's database (<c>mcp_audit</c>).</summary>
public sealed class PostgresMcpAuditStore(IServiceScopeFactory scopes) : IMcpAuditStore
{
    public async Task AddAsync(IReadOnlyList<McpAuditRow> rows, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        db.McpAudit.AddRange(rows.Select(r => { r.At = r.At.ToUniversalTime(); return r; }));
        await db.SaveChangesAsync(cancellationToken);
    }

    public async Task<Page<McpAuditRow>> ListAsync(McpAuditFilter filter, PageQuery page, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        return await filter.PageAsync(db.McpAudit.AsNoTracking(), page, cancellationToken);
    }

    public async Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var cutoff = before.ToUniversalTime();
        return await db.McpAudit.Where(r => r.At < cutoff).ExecuteDeleteAsync(cancellationToken);
    }
}

/// <summary>
/// The audit trail in this process only, for a gateway without a database (one replica, lost on restart). Bounded:
/// past <see cref="MaxRecords"/>, the oldest records go first.
/// </summary>
public sealed class InMemoryMcpAuditStore : IMcpAuditStore
{
    public const int MaxRecords = 100_000;

    private readonly Lock _lock = new();
    private Queue<McpAuditRow> _rows = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _rows.Count;
            }
        }
    }

    public Task AddAsync(IReadOnlyList<McpAuditRow> rows, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var row in rows)
            {
                _rows.Enqueue(row);
            }
            while (_rows.Count > MaxRecords)
            {
                _rows.Dequeue();
            }
        }
        return Task.CompletedTask;
    }

    public Task<Page<McpAuditRow>> ListAsync(McpAuditFilter filter, PageQuery page, CancellationToken cancellationToken)
    {
        McpAuditRow[] rows;
        lock (_lock)
        {
            rows = [.. _rows];
        }
        return filter.PageAsync(rows.AsQueryable(), page, cancellationToken);
    }

    public Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var count = _rows.Count;
            _rows = new Queue<McpAuditRow>(_rows.Where(r => r.At >= before));
            return Task.FromResult(count - _rows.Count);
        }
    }
}
