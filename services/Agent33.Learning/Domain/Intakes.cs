using System.Text.Json;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Pages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Agent33.Learning.Domain;

/// <summary>The research intakes generated from signals: generating them, and reading them page by page.</summary>
public sealed class Intakes(LearningDbContext db, IOptions<LearningOptions> options, TimeProvider time)
{
    /// <summary>
    /// Turns qualifying signals into research intakes, most severe, best and newest first; a signal that
    /// already has an intake never gets another (the signal→intake map is the idempotency key).
    /// </summary>
    public async Task<List<JsonElement>> GenerateAsync(string tenant, CancellationToken ct)
    {
        var policy = options.Value.AutoIntake;
        Severities.TryParse(policy.MinSeverity, out var minRank);
        var now = time.GetUtcNow();
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({"intakes:" + tenant}, 0))", ct);
            var signals = tenant == Tenants.All ? db.Signals : db.Signals.Where(s => s.TenantId == tenant);
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
                var document = IntakeDocument.Write(intakeId, signal, now);
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
    public async Task<Page<JsonElement>> ListAsync(string tenant, PageQuery page, CancellationToken ct)
    {
        var query = db.Intakes.AsNoTracking();
        if (tenant != Tenants.All)
        {
            query = query.Where(i => i.TenantId == tenant);
        }
        return await query.NewestFirst(page, i => i.SubmittedAt, i => i.IntakeId)
            .Select(i => new { i.SubmittedAt, i.IntakeId, i.Document })
            .TakePageAsync(page.Limit, i => new PageCursor(i.SubmittedAt, i.IntakeId), i => JsonDocument.Parse(i.Document).RootElement.Clone(), ct);
    }
}
