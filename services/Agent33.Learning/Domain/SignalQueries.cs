using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Pages;

namespace Agent33.Learning.Domain;

/// <summary>Reads stored signals page by page, as <c>GET /signals</c> and its export list them.</summary>
public sealed class SignalQueries(LearningDbContext db)
{
    /// <summary>One page of a tenant's signals, newest first (recorded_at, then signal_id), filtered by type, severity and time.</summary>
    public Task<Page<SignalView>> ListAsync(string tenant, string? signalType, string? severity, PageQuery page, CancellationToken ct)
    {
        var query = db.SignalsOf(tenant);
        if (signalType is not null)
        {
            query = query.Where(s => s.SignalType == signalType);
        }
        if (severity is not null)
        {
            query = query.Where(s => s.Severity == severity);
        }
        return query.NewestFirst(page, s => s.RecordedAt, s => s.SignalId)
            .TakePageAsync(page.Limit, s => new PageCursor(s.RecordedAt, s.SignalId), SignalView.From, ct);
    }
}
