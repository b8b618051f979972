using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Agent33.Learning.Domain;

/// <summary>How every read is scoped to a tenant, or to all of them.</summary>
public static class Tenants
{
    /// <summary>Admins may ask for every tenant at once with this tenant name.</summary>
    public const string All = "*";

    /// <summary>A tenant's signals (every tenant's for <see cref="All"/>), read-only.</summary>
    public static IQueryable<LearningSignal> SignalsOf(this LearningDbContext db, string tenant) =>
        tenant == All ? db.Signals.AsNoTracking() : db.Signals.AsNoTracking().Where(s => s.TenantId == tenant);

    /// <summary>The tenant a report names: none when it covers every tenant.</summary>
    public static string? Reported(string tenant) => tenant == All ? null : tenant;
}
