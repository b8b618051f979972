using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Learning.Persistence;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Learning.Tests;

public sealed class LegacyStateTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task The_reference_state_loads_through_the_domain_and_summarizes_to_its_facts()
    {
        var facts = JsonDocument.Parse(await File.ReadAllTextAsync(ReferenceFixtures.PathOf("learning", "facts.json"))).RootElement;
        var state = JsonDocument.Parse(await File.ReadAllTextAsync(ReferenceFixtures.PathOf("learning", "legacy-state.json"))).RootElement;
        await using var factory = new LearningServiceFactory(postgres, ("Learning:MaxSignals", "100000"));
        factory.CreateClient(); // start: migrations applied

        await using (var scope = factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<LearningDbContext>();
            db.Signals.AddRange(state.GetProperty("signals").EnumerateArray().Select(StateRecords.ToSignal));
            await db.SaveChangesAsync();
        }
        factory.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));
        var summary = await factory.WithAsync<SignalReports, LearningSummary>(reports => reports.SummarizeAsync(Tenants.All, 10_000, null, CancellationToken.None));

        Assert.Equal(facts.GetProperty("signal_count").GetInt32(), summary.TotalSignals);
        Assert.Equal(facts.GetProperty("signals_by_tenant").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()), summary.CountsByTenant);
        var occurrences = await factory.WithAsync<SignalReports, int>(async reports =>
            (await reports.TrendsAsync(Tenants.All, 3650, "signal_type", CancellationToken.None)).TotalCurrentOccurrences);
        Assert.Equal(facts.GetProperty("occurrences_total").GetInt32(), occurrences);
    }
}
