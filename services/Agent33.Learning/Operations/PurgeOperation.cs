using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Agent33.Learning.Operations;

/// <summary>Purges a quarantined record once an operator has dealt with it (audited).</summary>
public sealed class PurgeOperation(LearningDbContext db, AuditTrail audit)
{
    /// <summary>Removes a quarantined record once an operator has dealt with it; false when there is none with that id.</summary>
    public async Task<bool> PurgeAsync(long id, string actor, CancellationToken ct)
    {
        var removed = await db.Quarantine.Where(q => q.Id == id)
            .Select(q => new { q.Id, q.Source, q.Kind, q.PayloadSha256, q.PayloadBytes })
            .FirstOrDefaultAsync(ct);
        if (removed is null || await db.Quarantine.Where(q => q.Id == id).ExecuteDeleteAsync(ct) == 0)
        {
            return false;
        }
        await audit.RecordAsync("quarantine_purged", actor, removed, ct);
        return true;
    }
}
