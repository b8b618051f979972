using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;

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
        await admin.GetAsync($"{Base}/summary?generate_intakes=true"); // 5 intakes, cap 1

        var (signals, intakes) = await factory.WithStoreAsync(store => store.PruneAsync(CancellationToken.None));
        Assert.Equal(2, signals);
        Assert.Equal(4, intakes); // 2 with their pruned signals, 2 more over the intake cap
        var kept = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals")).EnumerateArray().ToList();
        Assert.Equal(ids.Skip(2).Reverse(), kept.Select(s => s.GetProperty("signal_id").GetString()));
        var remainingIntakes = await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes");
        var survivor = Assert.Single(remainingIntakes.EnumerateArray());
        Assert.Single(kept, s => s.GetProperty("intake_generated").GetBoolean());
        Assert.Equal(survivor.GetProperty("generated_from_signal_id").GetString(), kept.Single(s => s.GetProperty("intake_generated").GetBoolean()).GetProperty("signal_id").GetString());

        factory.Clock.Advance(TimeSpan.FromDays(31));
        await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "A fresh signal after a month", severity = "low" });
        await factory.WithStoreAsync(store => store.PruneAsync(CancellationToken.None));
        var fresh = await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals");
        Assert.Equal("A fresh signal after a month", Assert.Single(fresh.EnumerateArray()).GetProperty("summary").GetString());
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes")).GetArrayLength());
    }
}
