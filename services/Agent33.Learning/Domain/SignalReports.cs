using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Compatibility;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Agent33.Learning.Domain;

/// <summary>The reports over stored signals: the summary, the trends between two windows, and the calibration of auto-intake.</summary>
public sealed class SignalReports(LearningDbContext db, IOptions<LearningOptions> options, TimeProvider time)
{
    private LearningOptions Policy => options.Value;

    public async Task<LearningSummary> SummarizeAsync(string tenant, int limit, int? windowDays, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var query = db.SignalsOf(tenant);
        int? previousTotal = null;
        int? delta = null;
        DateTimeOffset? windowStart = null;
        var direction = "stable";
        if (windowDays is > 0)
        {
            var start = now.AddDays(-windowDays.Value);
            var previousStart = start.AddDays(-windowDays.Value);
            windowStart = start;
            var current = await query.CountAsync(s => s.RecordedAt >= start, ct);
            previousTotal = await query.CountAsync(s => s.RecordedAt >= previousStart && s.RecordedAt < start, ct);
            delta = current - previousTotal;
            direction = delta > 0 ? "up" : delta < 0 ? "down" : "stable";
            query = query.Where(s => s.RecordedAt >= start);
        }

        var rows = await query.OrderByDescending(s => s.RecordedAt).ThenByDescending(s => s.SignalId).Take(limit)
            .Select(s => new { s.SignalType, s.Severity, s.TenantId, s.QualityScore, s.QualityLabel, s.RecordedAt })
            .ToListAsync(ct);
        var byType = new Dictionary<string, int>();
        var bySeverity = new Dictionary<string, int>();
        var byTenant = new Dictionary<string, int>();
        var qualityTotal = 0.0;
        var high = 0;
        foreach (var row in rows)
        {
            byType[row.SignalType] = byType.GetValueOrDefault(row.SignalType) + 1;
            bySeverity[row.Severity] = bySeverity.GetValueOrDefault(row.Severity) + 1;
            byTenant[row.TenantId] = byTenant.GetValueOrDefault(row.TenantId) + 1;
            qualityTotal += row.QualityScore;
            high += row.QualityLabel == "high" ? 1 : 0;
        }
        return new LearningSummary(rows.Count, byType, bySeverity, byTenant, rows.Count > 0 ? rows[0].RecordedAt : null,
            rows.Count > 0 ? PythonRound.Round(qualityTotal / rows.Count, 3) : 0.0, high, Tenants.Reported(tenant),
            windowDays, windowStart, previousTotal, delta, direction, now);
    }

    /// <summary>Current vs previous window per signal type or severity, counting signals and (deduplicated) occurrences.</summary>
    public async Task<TrendReport> TrendsAsync(string tenant, int windowDays, string dimension, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var start = now.AddDays(-windowDays);
        var previousStart = start.AddDays(-windowDays);
        // Counted by Postgres, one row per category and window: the answer's size does not grow with the signals'.
        var groups = await db.SignalsOf(tenant).Where(s => s.RecordedAt >= previousStart)
            .GroupBy(s => new { Key = dimension == "severity" ? s.Severity : s.SignalType, Current = s.RecordedAt >= start })
            .Select(g => new { g.Key.Key, g.Key.Current, Signals = g.Count(), Occurrences = g.Sum(s => s.OccurrenceCount > 1 ? s.OccurrenceCount : 1) })
            .ToListAsync(ct);

        var current = new SortedDictionary<string, (int Signals, int Occurrences)>(StringComparer.Ordinal);
        var previous = new SortedDictionary<string, (int Signals, int Occurrences)>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            (group.Current ? current : previous)[group.Key] = (group.Signals, group.Occurrences);
        }
        var categories = current.Keys.Union(previous.Keys).Order(StringComparer.Ordinal).Select(key =>
        {
            var (cs, co) = current.GetValueOrDefault(key);
            var (ps, po) = previous.GetValueOrDefault(key);
            var signalDelta = cs - ps;
            var occurrenceDelta = co - po;
            var direction = occurrenceDelta > 0 || (occurrenceDelta == 0 && signalDelta > 0) ? "up"
                : occurrenceDelta < 0 || (occurrenceDelta == 0 && signalDelta < 0) ? "down" : "stable";
            return new TrendCategory(key, cs, ps, signalDelta, co, po, occurrenceDelta, direction);
        }).ToList();
        return new TrendReport(Tenants.Reported(tenant), windowDays, dimension, start, previousStart,
            current.Values.Sum(v => v.Signals), previous.Values.Sum(v => v.Signals),
            current.Values.Sum(v => v.Occurrences), previous.Values.Sum(v => v.Occurrences), categories, now);
    }

    public async Task<CalibrationReport> CalibrateAsync(string tenant, int windowDays, int target, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var start = now.AddDays(-windowDays);
        var window = await CalibrationWindowAsync(tenant, start, target, ct);
        var count = window.Count;
        var occurrences = window.Occurrences;
        var dailyRate = occurrences / (double)windowDays;
        var highRatio = count > 0 ? PythonRound.Round(window.HighOrCritical / (double)count, 3) : 0.0;
        var policy = Policy.AutoIntake;

        double recommendedQuality;
        int recommendedMaxItems;
        string recommendedSeverity;
        List<string> rationale;
        if (count == 0)
        {
            recommendedQuality = PythonRound.Round(policy.MinQuality, 3);
            recommendedMaxItems = Math.Min(target, 1);
            recommendedSeverity = "high";
            rationale = ["No signals in the selected window; returning conservative defaults."];
        }
        else
        {
            recommendedQuality = PythonRound.Round(window.TopQuality, 3);
            recommendedMaxItems = Math.Min(target, count);
            recommendedSeverity = highRatio >= 0.4 ? "high" : "medium";
            rationale =
            [
                "Quality threshold targets the top-N signals in the selected window.",
                "Severity threshold adapts to observed high/critical share.",
            ];
        }
        var capacity = Policy.MaxSignals > 0 ? Policy.MaxSignals : 5000;
        var safeRate = dailyRate > 0 ? dailyRate : 1.0;
        var retention = Math.Max(30, Math.Min(365, (int)Math.Round(capacity / safeRate, MidpointRounding.ToEven)));

        return new CalibrationReport(Tenants.Reported(tenant), windowDays, target, count, occurrences,
            PythonRound.Round(dailyRate, 3),
            count > 0 ? PythonRound.Round(window.QualitySum / count, 3) : 0.0,
            PythonRound.Round(window.Quality75, 3),
            PythonRound.Round(window.Quality90, 3),
            highRatio, recommendedQuality, recommendedSeverity, recommendedMaxItems, retention,
            new Dictionary<string, object?>
            {
                ["auto_intake_min_quality"] = PythonRound.Round(policy.MinQuality, 3),
                ["auto_intake_min_severity"] = policy.MinSeverity,
                ["auto_intake_max_items"] = policy.MaxItems,
                ["max_signals"] = Policy.MaxSignals,
                ["retention_days"] = Policy.RetentionDays,
            },
            rationale, now);
    }

    private sealed record CalibrationWindow(int Count, int Occurrences, int HighOrCritical, double QualitySum, double TopQuality, double Quality75, double Quality90);

    /// <summary>
    /// What calibration reads from a window, whatever the window holds: Postgres groups the signals by quality score (a
    /// recorded score has three decimals, so there are at most 1,001 groups) with each group's count, occurrences and
    /// high-or-critical count. From those, exactly as from the sorted scores: the quality sum added in descending order
    /// (as the reference sums; equal scores are interchangeable), the <paramref name="target"/>-th best, and the
    /// reference's percentiles, the value at index round((n-1)·p) of the ascending scores.
    /// </summary>
    private async Task<CalibrationWindow> CalibrationWindowAsync(string tenant, DateTimeOffset start, int target, CancellationToken ct)
    {
        var groups = await db.SignalsOf(tenant).Where(s => s.RecordedAt >= start)
            .GroupBy(s => s.QualityScore)
            .Select(g => new
            {
                Quality = g.Key,
                Count = g.Count(),
                Occurrences = g.Sum(s => s.OccurrenceCount > 1 ? s.OccurrenceCount : 1),
                HighOrCritical = g.Count(s => s.SeverityRank >= 3),
            })
            .ToListAsync(ct);
        var count = groups.Sum(g => g.Count);
        if (count == 0)
        {
            return new CalibrationWindow(0, 0, 0, 0, 0, 0, 0);
        }
        var descending = groups.OrderByDescending(g => g.Quality).ToList();
        var sum = 0.0;
        foreach (var group in descending)
        {
            for (var i = 0; i < group.Count; i++)
            {
                sum += group.Quality;
            }
        }
        // The score at an index of the descending order.
        double AtDescending(int index)
        {
            foreach (var group in descending)
            {
                if (index < group.Count)
                {
                    return group.Quality;
                }
                index -= group.Count;
            }
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        double Percentile(double p) => AtDescending(count - 1 - (int)Math.Round((count - 1) * p, MidpointRounding.ToEven));
        return new CalibrationWindow(count, groups.Sum(g => g.Occurrences), groups.Sum(g => g.HighOrCritical), sum,
            AtDescending(Math.Min(target, count) - 1), Percentile(0.75), Percentile(0.90));
    }
}
