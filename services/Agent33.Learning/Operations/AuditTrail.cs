using System.Text.Json;
using Agent33.Learning.Persistence;

namespace Agent33.Learning.Operations;

/// <summary>The audit events of the operations: who did what to the learning state, kept in <c>audit_events</c>.</summary>
public sealed class AuditTrail(LearningDbContext db, TimeProvider time)
{
    public async Task RecordAsync(string kind, string actor, object details, CancellationToken ct)
    {
        db.AuditEvents.Add(new AuditEvent { OccurredAt = time.GetUtcNow(), Kind = kind, Actor = actor, Details = JsonSerializer.Serialize(details) });
        await db.SaveChangesAsync(ct);
    }
}
