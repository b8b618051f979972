using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Learning.Tests;

/// <summary>Caps and retention, on their own database so the global caps see only these signals.</summary>
public sealed class PruningTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    [Fact]
    public async Task Caps_keep_the_newest_signals_and_retention_drops_old_ones_with_their_intakes()
    {
        await using var factory = new LearningServiceFactory(postgres,
            ("Learning:MaxSignals", "3"), ("Learning:MaxGeneratedIntakes", "1"), ("Learning:RetentionDays", "30"),
            ("Learning:AutoIntake:Enabled", "true"), ("Learning:AutoIntake:MinQuality", "0"), ("Learning:AutoIntake:MinSeverity", "low"),
            ("Learning:AutoIntake:MaxItems", "10"),
            ("Learning:PruneIntervalSeconds", "86400")); // the test prunes itself; minutes on the fake clock must not trigger the background pruner
        var admin = factory.CreateClient(TestKeys.Admin);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            factory.Clock.Advance(TimeSpan.FromMinutes(1));
            var response = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = $"Signal number {i} for pruning", severity = "high" });
            ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signal_id").GetString()!);
        }
        // Each write keeps the cap itself, as in the reference: the two oldest are gone before any pruning runs.
        Assert.Equal(ids.Skip(2).Reverse(), (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals")).EnumerateArray().Select(s => s.GetProperty("signal_id").GetString()));
        await admin.GetAsync($"{Base}/summary?generate_intakes=true"); // 3 intakes, cap 1

        var (signals, intakes) = await factory.Services.GetRequiredService<StatePruning>().PruneAsync(CancellationToken.None);
        Assert.Equal(0, signals);
        Assert.Equal(2, intakes); // over the intake cap
        var kept = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals")).EnumerateArray().ToList();
        Assert.Equal(ids.Skip(2).Reverse(), kept.Select(s => s.GetProperty("signal_id").GetString()));
        var remainingIntakes = await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes");
        var survivor = Assert.Single(remainingIntakes.EnumerateArray());
        Assert.Single(kept, s => s.GetProperty("intake_generated").GetBoolean());
        Assert.Equal(survivor.GetProperty("generated_from_signal_id").GetString(), kept.Single(s => s.GetProperty("intake_generated").GetBoolean()).GetProperty("signal_id").GetString());

        factory.Clock.Advance(TimeSpan.FromDays(31));
        await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "A fresh signal after a month", severity = "low" });
        await factory.Services.GetRequiredService<StatePruning>().PruneAsync(CancellationToken.None);
        var fresh = await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals");
        Assert.Equal("A fresh signal after a month", Assert.Single(fresh.EnumerateArray()).GetProperty("summary").GetString());
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes")).GetArrayLength());
    }
}

/// <summary>Caps applied by the writes themselves, and by the pruner to a restored state; a database of their own.</summary>
public sealed class CapsOnWriteTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    /// <summary>Found replaying the reference: the cap held only a moment after the write (a list right after showed 2 with a cap of 1).</summary>
    [Fact]
    public async Task The_cap_holds_for_the_very_next_read_and_takes_the_removed_signals_intakes_with_it()
    {
        await using var factory = new LearningServiceFactory(postgres,
            ("Learning:MaxSignals", "2"), ("Learning:AutoIntake:Enabled", "true"), ("Learning:AutoIntake:MinQuality", "0"),
            ("Learning:AutoIntake:MinSeverity", "low"));
        // No background pruner at all: moving the fake clock by months would wake it, and the point is what the writes do.
        await using var writesOnly = factory.WithWebHostBuilder(b => b.ConfigureServices(services =>
            services.Remove(services.Single(d => d.ImplementationType == typeof(Learning.Domain.LearningPruner)))));
        var admin = writesOnly.CreateClient(TestKeys.Admin);
        await admin.PostAsync($"{Base}/restore", new StringContent("""{"signals": []}""", System.Text.Encoding.UTF8, "application/json"));
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            factory.Clock.Advance(TimeSpan.FromMinutes(1));
            var response = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = $"Signal {i} under a cap of two", severity = "high" });
            ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signal_id").GetString()!);
        }
        var generated = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?generate_intakes=true")).GetProperty("generated_intakes");
        Assert.Equal(2, generated.GetArrayLength());

        factory.Clock.Advance(TimeSpan.FromMinutes(1));
        var third = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "The third pushes the first out", severity = "high" });
        Assert.Equal(HttpStatusCode.Created, third.StatusCode);
        ids.Add((await third.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signal_id").GetString()!);

        var listed = await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals");
        Assert.Equal([ids[2], ids[1]], listed.EnumerateArray().Select(s => s.GetProperty("signal_id").GetString()));
        var intakes = await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes");
        Assert.Equal([ids[1]], intakes.EnumerateArray().Select(i => i.GetProperty("generated_from_signal_id").GetString()));
        Assert.Equal(2, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary")).GetProperty("summary").GetProperty("total_signals").GetInt32());

        // A signal outside retention goes at the next write too.
        factory.Clock.Advance(TimeSpan.FromDays(181));
        var later = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "Half a year later", severity = "low" });
        Assert.True(later.StatusCode == HttpStatusCode.Created, await later.Content.ReadAsStringAsync());
        Assert.Equal(["Half a year later"], (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals")).EnumerateArray().Select(s => s.GetProperty("summary").GetString()));
    }

    /// <summary>A restored state is not pruned while it is restored (nor is the reference's); the pruner brings it under the caps.</summary>
    [Fact]
    public async Task The_pruner_brings_a_restored_state_under_the_caps_with_the_intakes_of_what_it_removes()
    {
        var state = JsonDocument.Parse(await File.ReadAllTextAsync(ReferenceFixtures.PathOf("learning", "legacy-state.json"))).RootElement;
        var oldest = state.GetProperty("signals").EnumerateArray()
            .Select(s => (At: s.GetProperty("recorded_at").GetDateTimeOffset(), Id: s.GetProperty("signal_id").GetString()!))
            .OrderBy(s => s.At).ThenBy(s => s.Id, StringComparer.Ordinal).Take(10).Select(s => s.Id).ToHashSet();
        var intakes = state.GetProperty("generated_intakes").EnumerateArray().ToList();
        var intakesOfOldest = intakes.Count(i => oldest.Contains(i.GetProperty("generated_from_signal_id").GetString()!));
        var intakesLeft = intakes.Count - intakesOfOldest;
        await using var factory = new LearningServiceFactory(postgres,
            ("Learning:MaxSignals", "90"), ("Learning:MaxGeneratedIntakes", "5"), ("Learning:PruneIntervalSeconds", "86400"));
        var admin = factory.CreateClient(TestKeys.Admin);
        factory.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"{Base}/restore",
            new StringContent(state.GetRawText(), System.Text.Encoding.UTF8, "application/json"))).StatusCode);

        var (signals, removedIntakes) = await factory.Services.GetRequiredService<StatePruning>().PruneAsync(CancellationToken.None);

        Assert.Equal(10, signals);
        Assert.Equal(intakesOfOldest + (intakesLeft - 5), removedIntakes);
        var kept = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id=*&limit=1000")).EnumerateArray().ToList();
        Assert.Equal(90, kept.Count);
        Assert.DoesNotContain(kept, s => oldest.Contains(s.GetProperty("signal_id").GetString()!));
        Assert.Equal(5, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes?tenant_id=*")).GetArrayLength());
    }
}
