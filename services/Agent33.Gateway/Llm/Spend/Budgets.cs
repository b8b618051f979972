using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>A tenant's daily limits (<c>Llm:Budgets:&lt;tenant&gt;:DailyUsd</c>, <c>:DailyTokens</c>); unset is unlimited.</summary>
public sealed class LlmBudget
{
    public decimal? DailyUsd { get; set; }
    public long? DailyTokens { get; set; }
}

/// <summary>Why a call is refused, and how long until the next UTC midnight.</summary>
public sealed record BudgetRefusal(string Budget, TimeSpan RetryAfter);

/// <summary>
/// Per-tenant daily budgets over the spend every replica records (see <see cref="SpendReservations"/>); the first
/// refusal of a tenant's day posts one learning signal.
/// </summary>
public sealed class Budgets(IOptions<LlmOptions> options, TimeProvider time, Signals.IncidentSignals signals)
{
    private readonly ConcurrentDictionary<(string, DateOnly), bool> _signalled = new();

    public DateOnly Today => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    public LlmBudget? For(string tenant) => options.Value.Budgets.GetValueOrDefault(tenant);

    /// <summary>
    /// A refused reservation: which budget the day's spend plus outstanding reservations has reached, counted, the
    /// tenant's first refusal of the day signalled, and how long until the next UTC midnight (the router counts it, with its API).
    /// </summary>
    public BudgetRefusal Refused(string tenant, DateOnly today, LlmBudget budget, DaySpend spent)
    {
        var reached = budget.DailyUsd is { } usd && (budget.DailyTokens is null || spent.CostUsd + spent.ReservedUsd >= usd)
            ? $"DailyUsd {usd.ToString(CultureInfo.InvariantCulture)}"
            : $"DailyTokens {budget.DailyTokens}";
        if (_signalled.TryAdd((tenant, today), true))
        {
            signals.BudgetReached(tenant, today, reached);
            foreach (var past in _signalled.Keys.Where(key => key.Item2 < today))
            {
                _signalled.TryRemove(past, out _); // yesterday's refusals are signalled already: the set holds one day
            }
        }
        var midnight = new DateTimeOffset(today.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        return new BudgetRefusal(reached, midnight - time.GetUtcNow());
    }
}
