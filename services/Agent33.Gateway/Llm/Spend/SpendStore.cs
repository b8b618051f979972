using System.Collections.Concurrent;
using Agent33.ServiceDefaults.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>A tenant's spend on one day: what a budget is compared with.</summary>
public readonly record struct DaySpend(decimal CostUsd, long Tokens);

/// <summary>Where LLM spend is kept: Postgres (shared by every replica) when <c>ConnectionStrings:gateway</c> is set.</summary>
public interface ISpendStore
{
    /// <summary>Adds to the tenant's row for the day and model (a call's tokens, later its price with <paramref name="requests"/> 0).</summary>
    Task AddAsync(string tenant, DateOnly day, string model, long requests, long promptTokens, long completionTokens, decimal costUsd, CancellationToken cancellationToken);

    Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken);

    Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken);
}

/// <summary>Spend in the gateway's database: one row per tenant, day and model, added to in one statement by every replica.</summary>
public sealed class PostgresSpendStore(IServiceScopeFactory scopes) : ISpendStore
{
    public async Task AddAsync(string tenant, DateOnly day, string model, long requests, long promptTokens, long completionTokens, decimal costUsd, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO llm_spend (tenant_id, day, model, requests, prompt_tokens, completion_tokens, cost_usd)
            VALUES ({tenant}, {day}, {model}, {requests}, {promptTokens}, {completionTokens}, {costUsd})
            ON CONFLICT (tenant_id, day, model) DO UPDATE SET
                requests = llm_spend.requests + EXCLUDED.requests,
                prompt_tokens = llm_spend.prompt_tokens + EXCLUDED.prompt_tokens,
                completion_tokens = llm_spend.completion_tokens + EXCLUDED.completion_tokens,
                cost_usd = llm_spend.cost_usd + EXCLUDED.cost_usd
            """, cancellationToken);
    }

    public async Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var rows = await db.LlmSpend.AsNoTracking().Where(s => s.TenantId == tenant && s.Day == day)
            .Select(s => new { s.CostUsd, Tokens = s.PromptTokens + s.CompletionTokens }).ToListAsync(cancellationToken);
        return new DaySpend(rows.Sum(r => r.CostUsd), rows.Sum(r => r.Tokens));
    }

    public async Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        return await db.LlmSpend.AsNoTracking().Where(s => s.TenantId == tenant && s.Day >= from && s.Day <= to)
            .OrderByDescending(s => s.Day).ThenBy(s => s.Model).ToListAsync(cancellationToken);
    }
}

/// <summary>Spend in this process only: for a gateway without a database (one replica, lost on restart).</summary>
public sealed class InMemorySpendStore : ISpendStore
{
    private readonly ConcurrentDictionary<(string, DateOnly, string), LlmSpendRow> _rows = new();

    public Task AddAsync(string tenant, DateOnly day, string model, long requests, long promptTokens, long completionTokens, decimal costUsd, CancellationToken cancellationToken)
    {
        var row = _rows.GetOrAdd((tenant, day, model), _ => new LlmSpendRow { TenantId = tenant, Day = day, Model = model });
        lock (row)
        {
            row.Requests += requests;
            row.PromptTokens += promptTokens;
            row.CompletionTokens += completionTokens;
            row.CostUsd += costUsd;
        }
        return Task.CompletedTask;
    }

    public Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken)
    {
        var rows = _rows.Values.Where(r => r.TenantId == tenant && r.Day == day).ToList();
        return Task.FromResult(new DaySpend(rows.Sum(r => r.CostUsd), rows.Sum(r => r.PromptTokens + r.CompletionTokens)));
    }

    public Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<LlmSpendRow>>([.. _rows.Values.Where(r => r.TenantId == tenant && r.Day >= from && r.Day <= to)
            .OrderByDescending(r => r.Day).ThenBy(r => r.Model)]);
}

/// <summary>The gateway's database: wiring and migrations.</summary>
public static partial class GatewayDatabase
{
    public const string ConnectionName = "gateway";

    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration.GetConnectionString(ConnectionName));

    /// <summary>Applies pending migrations before the gateway takes traffic; Postgres may still be starting, so waits a bounded time.</summary>
    public static async Task MigrateGatewayDatabaseAsync(this WebApplication app)
    {
        if (!IsConfigured(app.Configuration))
        {
            return;
        }
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Agent33.Gateway.Migrations");
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = app.Services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
                // As for the learning database: Npgsql's migrator reads the history before creating its table, which
                // EF logs as an error on a new database; create the database and the table first, so a first start is quiet.
                var creator = db.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalDatabaseCreator>();
                if (!await creator.ExistsAsync())
                {
                    await creator.CreateAsync();
                }
                // Replicas start together: one at a time migrates, under a session-level advisory lock (as the learning service).
                await db.Database.OpenConnectionAsync();
                try
                {
                    await using (await SessionAdvisoryLock.TakeAsync(db.Database.GetDbConnection(), SessionAdvisoryLock.MigrationsKey, CancellationToken.None))
                    {
                        await db.GetService<Microsoft.EntityFrameworkCore.Migrations.IHistoryRepository>().CreateIfNotExistsAsync();
                        await db.Database.MigrateAsync();
                    }
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }
                return;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException && DateTimeOffset.UtcNow < deadline)
            {
                LogWaiting(logger, attempt, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gateway database not reachable yet (attempt {Attempt}): {Reason}")]
    private static partial void LogWaiting(ILogger logger, int attempt, string reason);
}
