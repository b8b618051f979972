using System.Security.Cryptography;
using Agent33.ServiceDefaults.Persistence;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>A tenant's day against its budgets: what is spent (settled) and what outstanding reservations hold.</summary>
public readonly record struct DaySpend(decimal CostUsd, long Tokens, decimal ReservedUsd = 0, long ReservedTokens = 0);

/// <summary>A granted reservation: what it holds against the tenant's day until it is settled or expires.</summary>
public sealed record Reservation(Guid Id, string Tenant, DateOnly Day, long Tokens, decimal CostUsd);

/// <summary>What one call is charged when it settles.</summary>
public readonly record struct Charge(long PromptTokens, long CompletionTokens, decimal CostUsd, bool Estimated);

/// <summary>
/// Where LLM spend is kept: Postgres (shared by every replica) when <c>ConnectionStrings:gateway</c> is set, else this
/// process's memory, with the same semantics. A tenant's day has its spend (settled calls) and its outstanding
/// reservations; a reservation is granted in one atomic step only while spend plus reservations is under every budget.
/// </summary>
public interface ISpendStore
{
    /// <summary>Reserves <paramref name="tokens"/> and <paramref name="costUsd"/> for a call; null when the day's spend plus outstanding reservations has reached a budget.</summary>
    Task<Reservation?> ReserveAsync(string tenant, DateOnly day, long tokens, decimal costUsd, LlmBudget budget, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Releases the reservation (if it is still held) and adds the call's charge to the day and the model's row, one request.</summary>
    Task SettleAsync(Reservation? reservation, string tenant, DateOnly day, string model, Charge charge, CancellationToken cancellationToken);

    /// <summary>Adds a price correction (routing's price minus the one charged at settlement) to the day and the model's row.</summary>
    Task AddCostAsync(string tenant, DateOnly day, string model, decimal costUsd, CancellationToken cancellationToken);

    /// <summary>Moves the expiry of reservations this replica still holds (calls still running).</summary>
    Task RenewAsync(IReadOnlyCollection<Guid> reservations, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Releases every reservation that expired (left by a replica that died); returns how many.</summary>
    Task<long> ExpireAsync(DateTimeOffset now, CancellationToken cancellationToken);

    Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken);

    Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken);
}

/// <summary>
/// Spend in the gateway's database. The budget gate is the tenant's row of <c>llm_budget_days</c>: one conditional
/// <c>UPDATE</c> adds a reservation only while spend plus reservations is under the budgets. Postgres locks the row
/// and re-checks the condition against the latest committed version for every concurrent writer, so reservations of
/// any number of replicas are granted one after the other, each seeing the ones before it.
/// </summary>
public sealed class PostgresSpendStore(IServiceScopeFactory scopes) : ISpendStore
{
    /// <summary>A budget that is not set: larger than any day's spend.</summary>
    private const long NoTokenBudget = long.MaxValue;
    private const decimal NoUsdBudget = 1_000_000_000m;

    public async Task<Reservation?> ReserveAsync(string tenant, DateOnly day, long tokens, decimal costUsd, LlmBudget budget, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var reservation = new Reservation(Guid.NewGuid(), tenant, day, tokens, costUsd);
        const string reserve = """
            WITH granted AS (
                UPDATE llm_budget_days SET reserved_tokens = reserved_tokens + $4, reserved_usd = reserved_usd + $5
                WHERE tenant_id = $2 AND day = $3 AND spent_tokens + reserved_tokens < $7 AND spent_usd + reserved_usd < $8
                RETURNING tenant_id)
            INSERT INTO llm_reservations (id, tenant_id, day, tokens, cost_usd, expires_at)
            SELECT $1, $2, $3, $4, $5, $6 FROM granted
            """;
        object[] values = [reservation.Id, tenant, day, tokens, costUsd, expiresAt.ToUniversalTime(), budget.DailyTokens ?? NoTokenBudget, budget.DailyUsd ?? NoUsdBudget];
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (await ReserveWithoutWaitingForFlushAsync(reserve, values, cancellationToken) == 1)
            {
                return reservation;
            }
            // Refused, or the tenant's first reservation of the day: the gate row is made once and the reservation tried again.
            if (await ExecuteAsync("INSERT INTO llm_budget_days (tenant_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING", [tenant, day], cancellationToken) == 0)
            {
                return null;
            }
        }
        return null;
    }

    public async Task SettleAsync(Reservation? reservation, string tenant, DateOnly day, string model, Charge charge, CancellationToken cancellationToken) =>
        await ExecuteAsync("""
            WITH released AS (DELETE FROM llm_reservations WHERE id = $1 RETURNING tokens, cost_usd),
            budget AS (
                INSERT INTO llm_budget_days AS d (tenant_id, day, spent_tokens, spent_usd)
                VALUES ($2, $3, $5 + $6, $7)
                ON CONFLICT (tenant_id, day) DO UPDATE SET
                    spent_tokens = d.spent_tokens + EXCLUDED.spent_tokens,
                    spent_usd = d.spent_usd + EXCLUDED.spent_usd,
                    reserved_tokens = d.reserved_tokens - COALESCE((SELECT sum(tokens) FROM released), 0),
                    reserved_usd = d.reserved_usd - COALESCE((SELECT sum(cost_usd) FROM released), 0))
            INSERT INTO llm_spend AS s (tenant_id, day, model, requests, prompt_tokens, completion_tokens, cost_usd, estimated_requests)
            VALUES ($2, $3, $4, 1, $5, $6, $7, $8)
            ON CONFLICT (tenant_id, day, model) DO UPDATE SET
                requests = s.requests + 1,
                prompt_tokens = s.prompt_tokens + EXCLUDED.prompt_tokens,
                completion_tokens = s.completion_tokens + EXCLUDED.completion_tokens,
                cost_usd = s.cost_usd + EXCLUDED.cost_usd,
                estimated_requests = s.estimated_requests + EXCLUDED.estimated_requests
            """, [reservation?.Id ?? Guid.Empty, tenant, day, model, charge.PromptTokens, charge.CompletionTokens, charge.CostUsd, charge.Estimated ? 1L : 0L], cancellationToken);

    public async Task AddCostAsync(string tenant, DateOnly day, string model, decimal costUsd, CancellationToken cancellationToken) =>
        await ExecuteAsync("""
            WITH budget AS (
                INSERT INTO llm_budget_days AS d (tenant_id, day, spent_usd) VALUES ($1, $2, $4)
                ON CONFLICT (tenant_id, day) DO UPDATE SET spent_usd = d.spent_usd + EXCLUDED.spent_usd)
            INSERT INTO llm_spend AS s (tenant_id, day, model, requests, prompt_tokens, completion_tokens, cost_usd, estimated_requests)
            VALUES ($1, $2, $3, 0, 0, 0, $4, 0)
            ON CONFLICT (tenant_id, day, model) DO UPDATE SET cost_usd = s.cost_usd + EXCLUDED.cost_usd
            """, [tenant, day, model, costUsd], cancellationToken);

    public async Task RenewAsync(IReadOnlyCollection<Guid> reservations, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        if (reservations.Count > 0)
        {
            await ExecuteAsync("UPDATE llm_reservations SET expires_at = $1 WHERE id = ANY($2)", [expiresAt.ToUniversalTime(), reservations.ToArray()], cancellationToken);
        }
    }

    public async Task<long> ExpireAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        await ScalarAsync<long>("""
            WITH gone AS (DELETE FROM llm_reservations WHERE expires_at < $1 RETURNING tenant_id, day, tokens, cost_usd),
            sums AS (SELECT tenant_id, day, sum(tokens) AS tokens, sum(cost_usd) AS usd, count(*) AS n FROM gone GROUP BY tenant_id, day),
            released AS (
                UPDATE llm_budget_days d SET reserved_tokens = d.reserved_tokens - sums.tokens, reserved_usd = d.reserved_usd - sums.usd
                FROM sums WHERE d.tenant_id = sums.tenant_id AND d.day = sums.day
                RETURNING sums.n)
            SELECT COALESCE(sum(n), 0)::bigint FROM released
            """, [now.ToUniversalTime()], cancellationToken);

    public async Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var row = await db.LlmBudgetDays.AsNoTracking().FirstOrDefaultAsync(d => d.TenantId == tenant && d.Day == day, cancellationToken);
        return row is null ? default : new DaySpend(row.SpentUsd, row.SpentTokens, row.ReservedUsd, row.ReservedTokens);
    }

    public async Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        return await db.LlmSpend.AsNoTracking().Where(s => s.TenantId == tenant && s.Day >= from && s.Day <= to)
            .OrderByDescending(s => s.Day).ThenBy(s => s.Model).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// The reservation's statement in one batch (one implicit transaction) after <c>synchronous_commit = off</c> for
    /// that transaction only: it is visible to every replica at once, as a committed row always is, but does not wait
    /// for its WAL flush (3 ms of a 3.5 ms reservation on a virtual disk). A Postgres crash can forget the last
    /// moments' reservations, the row and the day's reserved total together, so the books stay consistent; the
    /// settlement after each call is a durable commit and flushes every reservation before it.
    /// </summary>
    private Task<int> ReserveWithoutWaitingForFlushAsync(string sql, object[] values, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            await using var batch = new Npgsql.NpgsqlBatch(connection);
            batch.BatchCommands.Add(new Npgsql.NpgsqlBatchCommand("SELECT set_config('synchronous_commit', 'off', true)"));
            var reserve = new Npgsql.NpgsqlBatchCommand(sql);
            Bind(reserve.Parameters, values);
            batch.BatchCommands.Add(reserve);
            await batch.ExecuteNonQueryAsync(cancellationToken);
            return reserve.RecordsAffected;
        }, cancellationToken);

    private Task<int> ExecuteAsync(string sql, object[] values, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            await using var command = Command(connection, sql, values);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    private Task<T> ScalarAsync<T>(string sql, object[] values, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            await using var command = Command(connection, sql, values);
            return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
        }, cancellationToken);

    /// <summary>Statements with positional parameters (<c>$1</c>…), on a pooled connection of the context's data source.</summary>
    private async Task<T> RunAsync<T>(Func<Npgsql.NpgsqlConnection, Task<T>> run, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var connection = (Npgsql.NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(cancellationToken);
        try
        {
            return await run(connection);
        }
        finally
        {
            await connection.CloseAsync();
        }
    }

    private static Npgsql.NpgsqlCommand Command(Npgsql.NpgsqlConnection connection, string sql, object[] values)
    {
        var command = new Npgsql.NpgsqlCommand(sql, connection);
        Bind(command.Parameters, values);
        return command;
    }

    private static void Bind(Npgsql.NpgsqlParameterCollection parameters, object[] values)
    {
        foreach (var value in values)
        {
            parameters.Add(new Npgsql.NpgsqlParameter { Value = value });
        }
    }
}

/// <summary>Spend in this process only, for a gateway without a database (one replica, lost on restart): the same semantics under one lock.</summary>
public sealed class InMemorySpendStore : ISpendStore
{
    private sealed class Day
    {
        public long SpentTokens, ReservedTokens;
        public decimal SpentUsd, ReservedUsd;
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<(string, DateOnly), Day> _days = [];
    private readonly Dictionary<Guid, (Reservation Reservation, DateTimeOffset ExpiresAt)> _reservations = [];
    private readonly Dictionary<(string, DateOnly, string), LlmSpendRow> _rows = [];

    public Task<Reservation?> ReserveAsync(string tenant, DateOnly day, long tokens, decimal costUsd, LlmBudget budget, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var state = DayOf(tenant, day);
            if ((budget.DailyTokens is { } maxTokens && state.SpentTokens + state.ReservedTokens >= maxTokens)
                || (budget.DailyUsd is { } maxUsd && state.SpentUsd + state.ReservedUsd >= maxUsd))
            {
                return Task.FromResult<Reservation?>(null);
            }
            var reservation = new Reservation(Guid.NewGuid(), tenant, day, tokens, costUsd);
            state.ReservedTokens += tokens;
            state.ReservedUsd += costUsd;
            _reservations[reservation.Id] = (reservation, expiresAt);
            return Task.FromResult<Reservation?>(reservation);
        }
    }

    public Task SettleAsync(Reservation? reservation, string tenant, DateOnly day, string model, Charge charge, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var state = DayOf(tenant, day);
            if (reservation is not null && _reservations.Remove(reservation.Id))
            {
                state.ReservedTokens -= reservation.Tokens;
                state.ReservedUsd -= reservation.CostUsd;
            }
            state.SpentTokens += charge.PromptTokens + charge.CompletionTokens;
            state.SpentUsd += charge.CostUsd;
            var row = RowOf(tenant, day, model);
            row.Requests++;
            row.PromptTokens += charge.PromptTokens;
            row.CompletionTokens += charge.CompletionTokens;
            row.CostUsd += charge.CostUsd;
            row.EstimatedRequests += charge.Estimated ? 1 : 0;
        }
        return Task.CompletedTask;
    }

    public Task AddCostAsync(string tenant, DateOnly day, string model, decimal costUsd, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            DayOf(tenant, day).SpentUsd += costUsd;
            RowOf(tenant, day, model).CostUsd += costUsd;
        }
        return Task.CompletedTask;
    }

    public Task RenewAsync(IReadOnlyCollection<Guid> reservations, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var id in reservations)
            {
                if (_reservations.TryGetValue(id, out var held))
                {
                    _reservations[id] = (held.Reservation, expiresAt);
                }
            }
        }
        return Task.CompletedTask;
    }

    public Task<long> ExpireAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var expired = _reservations.Values.Where(r => r.ExpiresAt < now).Select(r => r.Reservation).ToList();
            foreach (var reservation in expired)
            {
                _reservations.Remove(reservation.Id);
                var state = DayOf(reservation.Tenant, reservation.Day);
                state.ReservedTokens -= reservation.Tokens;
                state.ReservedUsd -= reservation.CostUsd;
            }
            return Task.FromResult((long)expired.Count);
        }
    }

    public Task<DaySpend> DayAsync(string tenant, DateOnly day, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var state = DayOf(tenant, day);
            return Task.FromResult(new DaySpend(state.SpentUsd, state.SpentTokens, state.ReservedUsd, state.ReservedTokens));
        }
    }

    public Task<IReadOnlyList<LlmSpendRow>> RangeAsync(string tenant, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<LlmSpendRow>>([.. _rows.Values.Where(r => r.TenantId == tenant && r.Day >= from && r.Day <= to)
                .OrderByDescending(r => r.Day).ThenBy(r => r.Model)
                .Select(r => new LlmSpendRow { TenantId = r.TenantId, Day = r.Day, Model = r.Model, Requests = r.Requests, PromptTokens = r.PromptTokens,
                    CompletionTokens = r.CompletionTokens, CostUsd = r.CostUsd, EstimatedRequests = r.EstimatedRequests })]);
        }
    }

    private Day DayOf(string tenant, DateOnly day)
    {
        if (!_days.TryGetValue((tenant, day), out var state))
        {
            _days[(tenant, day)] = state = new Day();
        }
        return state;
    }

    private LlmSpendRow RowOf(string tenant, DateOnly day, string model)
    {
        if (!_rows.TryGetValue((tenant, day, model), out var row))
        {
            _rows[(tenant, day, model)] = row = new LlmSpendRow { TenantId = tenant, Day = day, Model = model };
        }
        return row;
    }
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
                        // The Data Protection key ring is loaded (its first key written, on an empty ring) under the
                        // same lock: replicas starting together on an empty ring would otherwise each write a key of
                        // their own and seal MCP session ids the others cannot open until their next refresh.
                        LoadKeyRing(app.Services);
                    }
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }
                return;
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or CryptographicException
                && DateTimeOffset.UtcNow < deadline)
            {
                LogWaiting(logger, attempt, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
            }
        }
    }

    /// <summary>Data Protection loads (or, empty, creates) its key ring on the first use of a key; the payload is thrown away.</summary>
    private static void LoadKeyRing(IServiceProvider services) =>
        services.GetRequiredService<IDataProtectionProvider>().CreateProtector("Agent33.Gateway.KeyRingLoad").Protect([]);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gateway database not reachable yet (attempt {Attempt}): {Reason}")]
    private static partial void LogWaiting(ILogger logger, int attempt, string reason);
}
