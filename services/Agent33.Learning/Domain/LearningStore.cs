using System.Text;
using System.Text.Json;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Compatibility;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Agent33.Learning.Domain;

/// <summary>
/// Learning signals with the reference engine's semantics on Postgres. Concurrent writes share a transaction (group
/// commit); each locks only its own dedupe fingerprint and touches its own row; new signals also remove, in the same transaction, the signals that
/// fell out of retention and — near the cap (<see cref="StoredSignals"/> knows when either can be) — those it pushes past <c>MaxSignals</c>,
/// through index ranges, so the cap holds for the very next read as in the reference. <see cref="PruneAsync"/>
/// runs in the background for what that leaves: intakes over their cap, restored states, rows another writer held.
/// </summary>
public sealed class LearningStore(LearningDbContext db, IOptions<LearningOptions> options, TimeProvider time, StoredSignals stored, SignalGroupCommit groupCommit)
{
    /// <summary>Admins may ask for every tenant at once with this tenant name.</summary>
    public const string AllTenants = "*";

    private const long PruneLockKey = 0x4147_3333_5052_554E; // "AG33PRUN": one background prune at a time across replicas

    private LearningOptions Policy => options.Value;

    /// <summary>
    /// Records a signal, or merges it into the newest matching one inside the dedupe window. It is written in a
    /// transaction shared with the writes that arrive at the same moment (<see cref="SignalGroupCommit"/>), and
    /// answered once that transaction has committed.
    /// </summary>
    public Task<(SignalView Signal, bool Created)> RecordAsync(SignalInput input, string tenant, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var incoming = new LearningSignal
        {
            SignalId = LearningSignal.NewId("LS"),
            RecordedAt = now,
            SignalType = input.SignalType,
            Severity = input.Severity,
            SeverityRank = Severities.Rank(input.Severity),
            TenantId = tenant,
            Summary = input.Summary,
            Details = input.Details,
            Source = input.Source,
            Context = input.Context,
            FirstSeenAt = now,
            LastSeenAt = now,
            Fingerprint = LearningSignal.FingerprintOf(tenant, input.SignalType, input.Summary, input.Source),
        };
        QualityScoring.Apply(incoming);
        return groupCommit.RecordAsync(incoming, ct);
    }

    /// <summary>
    /// Writes <paramref name="incoming"/> in one transaction, with the outcome each would have had written alone in
    /// this order: a signal merges into the newest row of its fingerprint inside the dedupe window — one stored, or
    /// one an earlier signal of the batch created — or is stored new. The signals given are left as they are, so a
    /// failed batch can be written again. Two round trips, whatever the batch and the table size: lock the
    /// fingerprints and find their duplicates, then write, prune and commit.
    /// </summary>
    internal async Task<List<(SignalView Signal, bool Created)>> WriteBatchAsync(IReadOnlyList<LearningSignal> incoming)
    {
        var window = TimeSpan.FromMinutes(Policy.DedupeWindowMinutes);
        // Each fingerprint with the dedupe cutoff of its first signal; a later one's cutoff is checked below.
        var firsts = incoming.DistinctBy(s => s.Fingerprint).ToList();
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync();
        try
        {
            // The newest row in the window of each fingerprint, then the row each next duplicate merges into.
            var mergeTargets = new Dictionary<string, LearningSignal>();
            await using (var find = new NpgsqlBatch(connection))
            {
                find.BatchCommands.Add(new NpgsqlBatchCommand("BEGIN"));
                // The table first, before any row is read or locked: a restore or import (SHARE ROW EXCLUSIVE) swaps the
                // whole state, so the batch decides its merges on the state it will commit into, never on one the swap
                // replaces — and never holds a row the swap must delete while it waits for the swap (a deadlock). The
                // wait is bounded: past RestoreWaitSeconds the batch fails with lock_not_available (503 restore_in_progress).
                find.BatchCommands.Add(new NpgsqlBatchCommand($"SET LOCAL lock_timeout = {checked(Policy.RestoreWaitSeconds * 1000)}"));
                find.BatchCommands.Add(new NpgsqlBatchCommand("LOCK TABLE learning_signals IN ROW EXCLUSIVE MODE"));
                find.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL lock_timeout TO DEFAULT"));
                // Writers of one fingerprint queue on its lock, so concurrent duplicates merge and never lose a count.
                // The locks are taken in ascending order whatever the batch's, so two batches (of two replicas) that
                // share fingerprints never each hold one the other waits for.
                find.BatchCommands.Add(new NpgsqlBatchCommand(
                    "SELECT pg_advisory_xact_lock(key) FROM (SELECT DISTINCT hashtextextended(fingerprint, 0) AS key FROM unnest($1::text[]) AS fingerprint ORDER BY key) AS keys")
                {
                    Parameters = { new() { Value = firsts.Select(s => s.Fingerprint).ToArray() } },
                });
                if (window > TimeSpan.Zero)
                {
                    find.BatchCommands.Add(new NpgsqlBatchCommand(
                        $"SELECT {SignalColumns} FROM learning_signals WHERE signal_id = ANY(ARRAY(" +
                        "SELECT (SELECT s.signal_id FROM learning_signals s WHERE s.fingerprint = f.fingerprint AND s.recorded_at >= f.since ORDER BY s.recorded_at DESC LIMIT 1) " +
                        "FROM unnest($1::text[], $2::timestamptz[]) AS f(fingerprint, since))) FOR UPDATE")
                    {
                        Parameters =
                        {
                            new() { Value = firsts.Select(s => s.Fingerprint).ToArray() },
                            new() { Value = firsts.Select(s => s.RecordedAt - window).ToArray() },
                        },
                    });
                }
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.NextResultAsync())
                {
                    while (reader.FieldCount > 1 && await reader.ReadAsync())
                    {
                        var row = ReadSignal(reader);
                        mergeTargets[row.Fingerprint] = row;
                    }
                }
            }

            var found = mergeTargets.Values.ToHashSet(); // by reference, as are the sets below
            var updates = new HashSet<LearningSignal>();
            var inserts = new List<LearningSignal>();
            var outcomes = new List<(SignalView Signal, bool Created)>(incoming.Count);
            foreach (var signal in incoming)
            {
                if (window > TimeSpan.Zero && mergeTargets.TryGetValue(signal.Fingerprint, out var target) && target.RecordedAt >= signal.RecordedAt - window)
                {
                    Merge(target, signal);
                    if (found.Contains(target))
                    {
                        updates.Add(target);
                    }
                    outcomes.Add((SignalView.From(target), false));
                }
                else
                {
                    var created = signal.Copy();
                    mergeTargets[signal.Fingerprint] = created;
                    inserts.Add(created);
                    outcomes.Add((SignalView.From(created), true));
                }
            }

            await using var write = new NpgsqlBatch(connection);
            if (inserts.Count > 0)
            {
                write.BatchCommands.Add(SignalsCommand($"INSERT INTO learning_signals ({SignalColumns}) SELECT * FROM {UnnestedSignals}", inserts));
            }
            if (updates.Count > 0)
            {
                write.BatchCommands.Add(SignalsCommand($"UPDATE learning_signals s SET {UpdatedColumns} FROM {UnnestedSignals} WHERE s.signal_id = v.signal_id", updates));
            }
            var checkCap = inserts.Count > 0 && !stored.WellUnderCap(Policy.MaxSignals, inserts.Count);
            if (inserts.Count > 0)
            {
                foreach (var prune in PruneCommands(inserts.Max(s => s.RecordedAt), checkCap))
                {
                    write.BatchCommands.Add(prune);
                }
            }
            write.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            long? counted = null;
            (bool Known, DateTimeOffset? At) oldest = default;
            await using (var reader = await write.ExecuteReaderAsync())
            {
                do
                {
                    // Only the checks after a prune answer rows: the count after the cap, the oldest after retention.
                    if (reader.FieldCount == 1 && await reader.ReadAsync())
                    {
                        if (reader.GetName(0) == StoredCount)
                        {
                            counted = reader.GetInt64(0);
                        }
                        else
                        {
                            oldest = (true, reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0));
                        }
                    }
                }
                while (await reader.NextResultAsync());
            }
            foreach (var created in inserts)
            {
                stored.Added(created.RecordedAt);
            }
            if (counted is { } count)
            {
                stored.Counted(count);
            }
            if (oldest.Known)
            {
                stored.OldestIs(oldest.At);
            }
            return outcomes;
        }
        catch
        {
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await using var rollback = new NpgsqlCommand("ROLLBACK", connection);
                await rollback.ExecuteNonQueryAsync(CancellationToken.None);
            }
            throw;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>
    /// What new signals remove in their transaction, as the reference prunes on every write: the signals past
    /// retention (when the oldest may be) and, when <paramref name="checkCap"/>, those beyond the newest
    /// <c>MaxSignals</c>, with their intakes and links; after each, what <see cref="StoredSignals"/> needs to know
    /// (the oldest left, the count up to just past the cap). Each removal is an index range over (recorded_at,
    /// signal_id) — the cap's bound costs reading <c>MaxSignals</c> index entries, which is why it is only checked
    /// near the cap — and rows another transaction holds are skipped, never waited for (the next write or the
    /// pruner takes them). Below the cap with nothing expired, a write adds no statement at all.
    /// </summary>
    private IEnumerable<NpgsqlBatchCommand> PruneCommands(DateTimeOffset now, bool checkCap)
    {
        var cutoff = now.AddDays(-Policy.RetentionDays);
        if (Policy.RetentionDays > 0 && stored.MayHoldSignalsBefore(cutoff))
        {
            yield return PruneCommand("SELECT s.ctid FROM learning_signals s WHERE s.recorded_at < $1", cutoff);
            yield return new NpgsqlBatchCommand($"SELECT min(recorded_at) AS {OldestStored} FROM learning_signals");
        }
        if (checkCap)
        {
            yield return PruneCommand(
                "SELECT s.ctid FROM (SELECT recorded_at, signal_id FROM learning_signals ORDER BY recorded_at DESC, signal_id DESC OFFSET $1 LIMIT 1) c " +
                "JOIN learning_signals s ON (s.recorded_at, s.signal_id) <= (c.recorded_at, c.signal_id)",
                Policy.MaxSignals);
            yield return CountCommand(Policy.MaxSignals);
        }
    }

    private static NpgsqlBatchCommand PruneCommand(string victims, object parameter) => new(
        $"""
        WITH removed AS (DELETE FROM learning_signals WHERE ctid = ANY(ARRAY({victims} FOR UPDATE OF s SKIP LOCKED)) RETURNING signal_id),
        links AS (DELETE FROM signal_intake_map WHERE signal_id = ANY(ARRAY(SELECT signal_id FROM removed)))
        DELETE FROM generated_intakes WHERE generated_from_signal_id = ANY(ARRAY(SELECT signal_id FROM removed))
        """)
    {
        Parameters = { new() { Value = parameter } },
    };

    private const string StoredCount = "stored_count";
    private const string OldestStored = "oldest_stored";

    /// <summary>How many signals are stored, counted no further than one past the cap.</summary>
    private static NpgsqlBatchCommand CountCommand(int maxSignals) =>
        new($"SELECT count(*) AS {StoredCount} FROM (SELECT 1 FROM learning_signals LIMIT $1) t") { Parameters = { new() { Value = (long)maxSignals + 1 } } };

    internal const string SignalColumns =
        "signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context, quality_score, quality_label, " +
        "quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, related_intake_id, fingerprint";

    internal static LearningSignal ReadSignal(NpgsqlDataReader r) => new()
    {
        SignalId = r.GetString(0),
        RecordedAt = r.GetFieldValue<DateTimeOffset>(1),
        SignalType = r.GetString(2),
        Severity = r.GetString(3),
        SeverityRank = r.GetInt32(4),
        TenantId = r.GetString(5),
        Summary = r.GetString(6),
        Details = r.GetString(7),
        Source = r.GetString(8),
        Context = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(9)) ?? [],
        QualityScore = r.GetDouble(10),
        QualityLabel = r.GetString(11),
        QualityReasons = JsonSerializer.Deserialize<List<string>>(r.GetString(12)) ?? [],
        Enrichment = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(13)) ?? [],
        OccurrenceCount = r.GetInt32(14),
        FirstSeenAt = r.IsDBNull(15) ? null : r.GetFieldValue<DateTimeOffset>(15),
        LastSeenAt = r.IsDBNull(16) ? null : r.GetFieldValue<DateTimeOffset>(16),
        IntakeGenerated = r.GetBoolean(17),
        RelatedIntakeId = r.IsDBNull(18) ? null : r.GetString(18),
        Fingerprint = r.GetString(19),
    };

    /// <summary>The signals passed as one array per column (<see cref="SignalsCommand"/>), as a table <c>v</c> of <see cref="SignalColumns"/>.</summary>
    private const string UnnestedSignals =
        "unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], " +
        "$11::float8[], $12::text[], $13::jsonb[], $14::jsonb[], $15::int[], $16::timestamptz[], $17::timestamptz[], $18::bool[], $19::text[], $20::text[]) " +
        $"AS v({SignalColumns})";

    /// <summary>Every column but the key, set from <see cref="UnnestedSignals"/>.</summary>
    private static readonly string UpdatedColumns = string.Join(", ", SignalColumns.Split(", ").Skip(1).Select(column => $"{column} = v.{column}"));

    /// <summary>A statement over <see cref="UnnestedSignals"/>: any number of signals in one statement, with the same 20 parameters.</summary>
    private static NpgsqlBatchCommand SignalsCommand(string sql, IReadOnlyCollection<LearningSignal> signals) => new(sql)
    {
        Parameters =
        {
            Column(signals, s => s.SignalId), Column(signals, s => s.RecordedAt), Column(signals, s => s.SignalType), Column(signals, s => s.Severity),
            Column(signals, s => s.SeverityRank), Column(signals, s => s.TenantId), Column(signals, s => s.Summary), Column(signals, s => s.Details),
            Column(signals, s => s.Source), Column(signals, s => JsonSerializer.Serialize(s.Context)), Column(signals, s => s.QualityScore),
            Column(signals, s => s.QualityLabel), Column(signals, s => JsonSerializer.Serialize(s.QualityReasons)),
            Column(signals, s => JsonSerializer.Serialize(s.Enrichment)), Column(signals, s => s.OccurrenceCount),
            Column(signals, s => s.FirstSeenAt), Column(signals, s => s.LastSeenAt),
            Column(signals, s => s.IntakeGenerated), Column(signals, s => s.RelatedIntakeId), Column(signals, s => s.Fingerprint),
        },
    };

    private static NpgsqlParameter Column<T>(IEnumerable<LearningSignal> signals, Func<LearningSignal, T> value) => new() { Value = signals.Select(value).ToArray() };

    /// <summary>The reference's merge: one more occurrence, the higher severity, the longer details, new context keys, re-scored.</summary>
    internal static void Merge(LearningSignal target, LearningSignal incoming)
    {
        target.OccurrenceCount++;
        var lastSeen = target.LastSeenAt ?? target.RecordedAt;
        target.LastSeenAt = incoming.RecordedAt > lastSeen ? incoming.RecordedAt : lastSeen;
        if (incoming.SeverityRank > target.SeverityRank)
        {
            target.Severity = incoming.Severity;
            target.SeverityRank = incoming.SeverityRank;
        }
        if (QualityScoring.CodePoints(incoming.Details) > QualityScoring.CodePoints(target.Details))
        {
            target.Details = incoming.Details;
        }
        if (incoming.Source.Length > 0 && target.Source.Length == 0)
        {
            target.Source = incoming.Source;
        }
        var context = new Dictionary<string, string>(target.Context);
        foreach (var (key, value) in incoming.Context)
        {
            context.TryAdd(key, value);
        }
        target.Context = context;
        QualityScoring.Apply(target);
    }

    /// <summary>One page of a tenant's signals, newest first (recorded_at, then signal_id), filtered by type, severity and time.</summary>
    public Task<Page<SignalView>> ListAsync(string tenant, string? signalType, string? severity, PageQuery page, CancellationToken ct)
    {
        var query = Scoped(tenant);
        if (signalType is not null)
        {
            query = query.Where(s => s.SignalType == signalType);
        }
        if (severity is not null)
        {
            query = query.Where(s => s.Severity == severity);
        }
        if (page.Since is { } since)
        {
            query = query.Where(s => s.RecordedAt >= since);
        }
        if (page.Until is { } until)
        {
            query = query.Where(s => s.RecordedAt < until);
        }
        if (page.After is { } after)
        {
            // The first bound lets the index range start at the position; the second breaks ties on the timestamp by id.
            query = query.Where(s => s.RecordedAt <= after.At && (s.RecordedAt < after.At || string.Compare(s.SignalId, after.Key) < 0));
        }
        return query.OrderByDescending(s => s.RecordedAt).ThenByDescending(s => s.SignalId)
            .TakePageAsync(page.Limit, s => new PageCursor(s.RecordedAt, s.SignalId), SignalView.From, ct);
    }

    public async Task<LearningSummary> SummarizeAsync(string tenant, int limit, int? windowDays, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var query = Scoped(tenant);
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
            rows.Count > 0 ? PythonRound.Round(qualityTotal / rows.Count, 3) : 0.0, high, ReportedTenant(tenant),
            windowDays, windowStart, previousTotal, delta, direction, now);
    }

    /// <summary>Current vs previous window per signal type or severity, counting signals and (deduplicated) occurrences.</summary>
    public async Task<TrendReport> TrendsAsync(string tenant, int windowDays, string dimension, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var start = now.AddDays(-windowDays);
        var previousStart = start.AddDays(-windowDays);
        // Counted by Postgres, one row per category and window: the answer's size does not grow with the signals'.
        var groups = await Scoped(tenant).Where(s => s.RecordedAt >= previousStart)
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
        return new TrendReport(ReportedTenant(tenant), windowDays, dimension, start, previousStart,
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

        return new CalibrationReport(ReportedTenant(tenant), windowDays, target, count, occurrences,
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
        var groups = await Scoped(tenant).Where(s => s.RecordedAt >= start)
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

    /// <summary>
    /// Turns qualifying signals into research intakes, most severe, best and newest first; a signal that
    /// already has an intake never gets another (the signal→intake map is the idempotency key).
    /// </summary>
    public async Task<List<JsonElement>> GenerateIntakesAsync(string tenant, CancellationToken ct)
    {
        var policy = Policy.AutoIntake;
        Severities.TryParse(policy.MinSeverity, out var minRank);
        var now = time.GetUtcNow();
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({"intakes:" + tenant}, 0))", ct);
            var signals = tenant == AllTenants ? db.Signals : db.Signals.Where(s => s.TenantId == tenant);
            var candidates = await signals
                .Where(s => s.SeverityRank >= minRank && s.QualityScore >= policy.MinQuality
                            && !db.SignalIntakeMap.Any(m => m.SignalId == s.SignalId))
                .OrderByDescending(s => s.SeverityRank).ThenByDescending(s => s.QualityScore).ThenByDescending(s => s.RecordedAt)
                .Take(policy.MaxItems)
                .ToListAsync(ct);
            var created = new List<JsonElement>();
            foreach (var signal in candidates)
            {
                var intakeId = LearningSignal.NewId("RI");
                var document = IntakeDocument(intakeId, signal, now);
                db.Intakes.Add(new GeneratedIntake
                {
                    IntakeId = intakeId,
                    TenantId = signal.TenantId,
                    GeneratedFromSignalId = signal.SignalId,
                    SubmittedAt = now,
                    Document = document,
                });
                db.SignalIntakeMap.Add(new SignalIntakeLink { SignalId = signal.SignalId, IntakeId = intakeId });
                signal.RelatedIntakeId = intakeId;
                signal.IntakeGenerated = true;
                created.Add(JsonDocument.Parse(document).RootElement.Clone());
            }
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            return created;
        });
    }

    /// <summary>One page of generated intakes, newest first (submitted_at, then intake_id), filtered by time.</summary>
    public async Task<Page<JsonElement>> ListIntakesAsync(string tenant, PageQuery page, CancellationToken ct)
    {
        var query = db.Intakes.AsNoTracking();
        if (tenant != AllTenants)
        {
            query = query.Where(i => i.TenantId == tenant);
        }
        if (page.Since is { } since)
        {
            query = query.Where(i => i.SubmittedAt >= since);
        }
        if (page.Until is { } until)
        {
            query = query.Where(i => i.SubmittedAt < until);
        }
        if (page.After is { } after)
        {
            query = query.Where(i => i.SubmittedAt <= after.At && (i.SubmittedAt < after.At || string.Compare(i.IntakeId, after.Key) < 0));
        }
        return await query.OrderByDescending(i => i.SubmittedAt).ThenByDescending(i => i.IntakeId)
            .Select(i => new { i.SubmittedAt, i.IntakeId, i.Document })
            .TakePageAsync(page.Limit, i => new PageCursor(i.SubmittedAt, i.IntakeId), i => JsonDocument.Parse(i.Document).RootElement.Clone(), ct);
    }

    /// <summary>
    /// The reference's pruning: signals past retention or beyond the cap (oldest first), the intakes and
    /// links of pruned signals, intakes beyond their cap, and the intake references of what was removed.
    /// Every step deletes through an index range; nothing rewrites the kept rows. One replica at a time (a
    /// transaction-level advisory lock, tried, never waited for): the others' pruners skip the turn, rather than
    /// delete the same rows behind it (or deadlock with it over them).
    /// </summary>
    public async Task<(int Signals, int Intakes)> PruneAsync(CancellationToken ct)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(ct);
            await using (var turn = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({PruneLockKey})", connection, transaction))
            {
                if (await turn.ExecuteScalarAsync(ct) is not true)
                {
                    return (0, 0); // another replica prunes right now
                }
            }
            var removedSignals = new List<string>();
            if (Policy.RetentionDays > 0)
            {
                removedSignals.AddRange(await ReturningAsync(connection, transaction,
                    "DELETE FROM learning_signals WHERE recorded_at < @cutoff RETURNING signal_id",
                    new NpgsqlParameter("cutoff", time.GetUtcNow().AddDays(-Policy.RetentionDays))));
            }
            removedSignals.AddRange(await ReturningAsync(connection, transaction,
                """
                WITH cutoff AS (SELECT recorded_at, signal_id FROM learning_signals ORDER BY recorded_at DESC, signal_id DESC OFFSET @max LIMIT 1)
                DELETE FROM learning_signals s USING cutoff c WHERE (s.recorded_at, s.signal_id) <= (c.recorded_at, c.signal_id)
                RETURNING s.signal_id
                """,
                new NpgsqlParameter("max", Policy.MaxSignals)));

            var removedIntakes = new List<string>();
            if (removedSignals.Count > 0)
            {
                await ExecuteAsync(connection, transaction, "DELETE FROM signal_intake_map WHERE signal_id = ANY(@ids)", new NpgsqlParameter("ids", removedSignals.ToArray()));
                removedIntakes.AddRange(await ReturningAsync(connection, transaction,
                    "DELETE FROM generated_intakes WHERE generated_from_signal_id = ANY(@ids) RETURNING intake_id", new NpgsqlParameter("ids", removedSignals.ToArray())));
            }
            removedIntakes.AddRange(await ReturningAsync(connection, transaction,
                """
                WITH cutoff AS (SELECT submitted_at, intake_id FROM generated_intakes ORDER BY submitted_at DESC, intake_id DESC OFFSET @max LIMIT 1)
                DELETE FROM generated_intakes i USING cutoff c WHERE (i.submitted_at, i.intake_id) <= (c.submitted_at, c.intake_id)
                RETURNING i.intake_id
                """,
                new NpgsqlParameter("max", Policy.MaxGeneratedIntakes)));
            if (removedIntakes.Count > 0)
            {
                var ids = new NpgsqlParameter("ids", removedIntakes.ToArray());
                await ExecuteAsync(connection, transaction, "DELETE FROM signal_intake_map WHERE intake_id = ANY(@ids)", ids);
                await ExecuteAsync(connection, transaction,
                    "UPDATE learning_signals SET related_intake_id = NULL, intake_generated = FALSE WHERE related_intake_id = ANY(@ids)",
                    new NpgsqlParameter("ids", removedIntakes.ToArray()));
            }
            await using (var count = new NpgsqlCommand(
                "SELECT (SELECT count(*) FROM (SELECT 1 FROM learning_signals LIMIT @limit) t), (SELECT min(recorded_at) FROM learning_signals)", connection, transaction))
            {
                count.Parameters.Add(new NpgsqlParameter("limit", (long)Policy.MaxSignals + 1));
                long total;
                DateTimeOffset? oldest;
                await using (var reader = await count.ExecuteReaderAsync(ct))
                {
                    await reader.ReadAsync(ct);
                    total = reader.GetInt64(0);
                    oldest = reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1);
                }
                await transaction.CommitAsync(ct);
                stored.Counted(total);
                stored.OldestIs(oldest);
            }
            return (removedSignals.Count, removedIntakes.Count);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>The intake the reference generates for a signal, as its model dumps to JSON.</summary>
    private static string IntakeDocument(string intakeId, LearningSignal signal, DateTimeOffset now)
    {
        var urgency = signal.SeverityRank >= 3 ? "high" : "medium";
        var basePriority = signal.Severity switch { "low" => 3, "medium" => 5, "high" => 8, _ => 10 };
        var priority = Math.Min(10, Math.Max(1, basePriority + (int)Math.Round(signal.QualityScore * 2, MidpointRounding.ToEven)));

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("intake_id", intakeId);
            w.WriteString("submitted_at", PythonJson.Timestamp(now));
            w.WriteString("submitted_by", "learning-service");
            w.WriteString("tenant_id", signal.TenantId);
            w.WriteString("generated_from_signal_id", signal.SignalId);
            w.WritePropertyName("automated_quality_score");
            w.WriteRawValue(PythonJson.FloatRepr(signal.QualityScore));
            w.WriteString("automated_quality_label", signal.QualityLabel);
            w.WriteStartObject("classification");
            w.WriteString("research_type", "internal");
            w.WriteString("category", $"learning:{signal.SignalType}");
            w.WriteString("urgency", urgency);
            w.WriteEndObject();
            w.WriteStartObject("content");
            w.WriteString("title", $"Learning signal: {signal.Summary}");
            w.WriteString("summary", signal.Details.Length > 0 ? signal.Details : signal.Summary);
            w.WriteString("source", signal.Source);
            w.WriteString("source_date", "");
            w.WriteEndObject();
            w.WriteStartObject("relevance");
            w.WriteStartArray("impact_areas");
            w.WriteStringValue($"quality:{signal.QualityLabel}");
            w.WriteEndArray();
            w.WriteStartArray("affected_phases");
            w.WriteEndArray();
            w.WriteStartArray("affected_agents");
            w.WriteEndArray();
            w.WriteNumber("priority_score", priority);
            w.WriteEndObject();
            w.WriteStartObject("analysis");
            foreach (var list in new[] { "key_findings", "recommendations", "risks", "opportunities" })
            {
                w.WriteStartArray(list);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteStartObject("disposition");
            w.WriteString("status", "submitted");
            w.WriteNull("decision_date");
            w.WriteString("decision_by", "");
            w.WriteString("rationale", "");
            w.WriteStartArray("action_items");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("tracking");
            w.WriteStartArray("backlog_refs");
            w.WriteEndArray();
            w.WriteString("roadmap_impact", "tbd");
            w.WriteString("implementation_target", "");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private IQueryable<LearningSignal> Scoped(string tenant) =>
        tenant == AllTenants ? db.Signals.AsNoTracking() : db.Signals.AsNoTracking().Where(s => s.TenantId == tenant);

    private static string? ReportedTenant(string tenant) => tenant == AllTenants ? null : tenant;

    private static async Task<List<string>> ReturningAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter parameter)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(parameter);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter parameter)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(parameter);
        await command.ExecuteNonQueryAsync();
    }
}
