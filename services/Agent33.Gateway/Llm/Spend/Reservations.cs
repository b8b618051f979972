using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>What the reserve step decided: a reservation (or none needed), a refusal, or no answer from the store.</summary>
public sealed record ReserveResult(Reservation? Reservation, BudgetRefusal? Refusal, bool StoreFailed = false);

/// <summary>
/// The spend steps of an LLM call: <b>reserve</b> before forwarding (the call's worst case, priced, against the tenant's
/// UTC day, refused once spend plus outstanding reservations has reached a budget) and <b>settle</b> after it (the
/// reservation released, the actual or estimated usage charged). A call that starts under the budget runs; nothing
/// runs beside it once its reservation fills the budget, so concurrent calls on any number of replicas pass a budget
/// by at most one call's reservation. A tenant without budgets reserves nothing and is only charged.
/// </summary>
public sealed partial class SpendReservations(
    ISpendStore store, Budgets budgets, ModelPrices prices, SpendMetrics metrics, TimeProvider time, IOptions<LlmOptions> options,
    Catalog.ConnectorCatalog catalog, ILogger<SpendReservations> logger)
{
    private readonly ConcurrentDictionary<Guid, byte> _held = new();

    /// <summary>
    /// How long a reservation lives without being renewed: the longest llm connector timeout plus a margin, or
    /// <c>Llm:ReservationTtlSeconds</c>. Live calls are renewed every third of it, so only a dead replica's expire.
    /// </summary>
    public TimeSpan Ttl { get; } = options.Value.ReservationTtlSeconds is > 0 and var seconds
        ? TimeSpan.FromSeconds(seconds)
        : TimeSpan.FromSeconds(catalog.Connectors.Values.Where(c => c.Kind == "llm").Select(c => c.TimeoutSeconds).DefaultIfEmpty(30).Max() + 60);

    /// <summary>The reservations this replica holds (calls still running).</summary>
    public IReadOnlyCollection<Guid> Held => (IReadOnlyCollection<Guid>)_held.Keys;

    public async Task<ReserveResult> ReserveAsync(string tenant, string model, long promptTokens, long maxTokens, CancellationToken cancellationToken)
    {
        if (budgets.For(tenant) is not { } budget || (budget.DailyUsd is null && budget.DailyTokens is null))
        {
            return new ReserveResult(null, null);
        }
        var day = budgets.Today;
        var tokens = promptTokens + maxTokens;
        // A USD budget needs the call's price; while routing's is unknown the reservation holds its tokens only.
        var unit = budget.DailyUsd is null ? null : await prices.GetAsync(tenant, model, cancellationToken);
        var cost = unit?.Of(promptTokens, maxTokens) ?? 0m;
        Reservation? reservation;
        try
        {
            reservation = await store.ReserveAsync(tenant, day, tokens, cost, budget, time.GetUtcNow() + Ttl, cancellationToken);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            metrics.Error("reserve");
            LogStoreFailed(logger, "reserve", tenant, ex.Message);
            return new ReserveResult(null, null, StoreFailed: true);
        }
        metrics.Reservation(reservation is not null);
        if (reservation is not null)
        {
            _held.TryAdd(reservation.Id, 0);
            return new ReserveResult(reservation, null);
        }
        var spent = await SafeDayAsync(tenant, day, cancellationToken);
        return new ReserveResult(null, budgets.Refused(tenant, day, budget, spent));
    }

    /// <summary>Releases the reservation and charges the call; a store failure is logged as an error and counted, never silent.</summary>
    public async Task SettleAsync(Reservation? reservation, string tenant, string model, Charge charge, DateOnly day)
    {
        try
        {
            await store.SettleAsync(reservation, tenant, reservation?.Day ?? day, model, charge, CancellationToken.None);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            metrics.Error("settle");
            LogStoreFailed(logger, "settle", tenant, ex.Message);
        }
        finally
        {
            if (reservation is not null)
            {
                _held.TryRemove(reservation.Id, out _);
            }
        }
    }

    /// <summary>Adds routing's price correction for a settled call.</summary>
    public async Task AddCostAsync(string tenant, DateOnly day, string model, decimal costUsd)
    {
        try
        {
            await store.AddCostAsync(tenant, day, model, costUsd, CancellationToken.None);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            metrics.Error("price");
            LogStoreFailed(logger, "price", tenant, ex.Message);
        }
    }

    /// <summary>One round of the keeper: renews the reservations of calls still running here, releases expired ones of any replica.</summary>
    public async Task KeepAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.RenewAsync([.. _held.Keys], time.GetUtcNow() + Ttl, cancellationToken);
            if (await store.ExpireAsync(time.GetUtcNow(), cancellationToken) is > 0 and var expired)
            {
                metrics.Expired(expired);
                LogExpired(logger, expired);
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            metrics.Error("keep");
            LogStoreFailed(logger, "keep", "*", ex.Message);
        }
    }

    private async Task<DaySpend> SafeDayAsync(string tenant, DateOnly day, CancellationToken cancellationToken)
    {
        try
        {
            return await store.DayAsync(tenant, day, cancellationToken);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return default;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "LLM spend could not be {Operation} for tenant {Tenant}: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string operation, string tenant, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Released {Count} expired LLM budget reservations (left by a replica that stopped mid-call)")]
    private static partial void LogExpired(ILogger logger, long count);
}

/// <summary>Renews this replica's reservations and releases expired ones, every third of the reservation lifetime.</summary>
public sealed class ReservationKeeper(SpendReservations reservations, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(200).Ticks, reservations.Ttl.Ticks / 3));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await reservations.KeepAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
