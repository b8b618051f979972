using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;

namespace Agent33.Learning.Tests;

/// <summary>
/// Behaviour the reference engine's clients rely on, found by replaying their requests against this service
/// (each was a refusal or a different answer here).
/// </summary>
public sealed class ReferenceParityTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    /// <summary>The reference's request model defaults <c>tenant_id</c> to "default"; its clients send it from any key.</summary>
    [Fact]
    public async Task Tenant_default_from_an_ordinary_key_means_the_keys_own_tenant_and_any_other_stays_denied()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var writer = factory.CreateClient(TestKeys.Writer); // tenant-a
        var admin = factory.CreateClient(TestKeys.Admin);

        var posted = await writer.PostAsJsonAsync($"{Base}/signals", new { summary = "Posted with the reference's default tenant", tenant_id = "default" });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var signal = await posted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("tenant-a", signal.GetProperty("tenant_id").GetString());

        var listed = await writer.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id=default");
        Assert.Contains(listed.EnumerateArray(), s => s.GetProperty("signal_id").GetString() == signal.GetProperty("signal_id").GetString());
        Assert.All(listed.EnumerateArray(), s => Assert.Equal("tenant-a", s.GetProperty("tenant_id").GetString()));
        var summary = await writer.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id=default");
        Assert.Equal("tenant-a", summary.GetProperty("summary").GetProperty("tenant_id").GetString());

        foreach (var response in new[]
                 {
                     await writer.PostAsJsonAsync($"{Base}/signals", new { summary = "Another tenant is still refused", tenant_id = "tenant-b" }),
                     await writer.GetAsync($"{Base}/signals?tenant_id=tenant-b"),
                 })
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("cross_tenant_denied", await response.ProblemCodeAsync());
        }

        // An admin key names the tenant called "default".
        var adminPosted = await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "An admin writes to the default tenant", tenant_id = "default" });
        Assert.Equal("default", (await adminPosted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());
    }

    /// <summary>The reference accepts an empty summary (the field is required, not non-empty) and scores it: 0.35 × 0.55 = 0.193.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task An_empty_summary_is_stored_and_scored_as_the_reference_scores_it(string summary)
    {
        await using var factory = new LearningServiceFactory(postgres);
        var writer = factory.CreateClient(TestKeys.OtherWriter);

        var response = await writer.PostAsync($"{Base}/signals",
            new StringContent(JsonSerializer.Serialize(new { signal_type = "bug", severity = "medium", summary, source = $"empty-{summary.Length}" }), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var signal = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(summary, signal.GetProperty("summary").GetString());
        // 0.25 × 0 + 0.20 × 0 + 0.10 × 1 (source) + 0.10 × 0 + 0.35 × 0.55, the reference's sum, rounded to 3 places as Python rounds.
        Assert.Equal(0.292, signal.GetProperty("quality_score").GetDouble()); // 0.2925 as a double is just below the half: Python rounds it down
        Assert.Equal("low", signal.GetProperty("quality_label").GetString());
        Assert.Equal(["summary_too_short", "details_missing", "context_missing"],
            signal.GetProperty("quality_reasons").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("0", signal.GetProperty("enrichment").GetProperty("summary_length").GetString());

        // Without a source, exactly the reference's 0.193.
        var bare = await writer.PostAsync($"{Base}/signals",
            new StringContent(JsonSerializer.Serialize(new { signal_type = summary.Length == 0 ? "feedback" : "process", severity = "medium", summary }), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, bare.StatusCode);
        Assert.Equal(0.193, (await bare.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("quality_score").GetDouble());
    }

    /// <summary>
    /// The state the reference's test_restore_learning_state_accepts_legacy_raw_backup writes: a signal without
    /// recorded_at (or scores). The reference's model fills recorded_at with the present moment, and its loader the
    /// first and last seen times from it; scores stay at the model's defaults.
    /// </summary>
    [Fact]
    public async Task A_legacy_raw_state_without_recorded_at_restores_stamped_with_the_restore_time()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        factory.Clock.Advance(TimeSpan.FromHours(3));
        const string state = """
            {
              "generated_intakes": [],
              "signal_intake_map": {},
              "signals": [
                {"severity": "high", "signal_id": "SIG-legacy", "signal_type": "bug", "summary": "Legacy backup payload", "tenant_id": "tenant-legacy"}
              ]
            }
            """;

        var response = await admin.PostAsync($"{Base}/restore", new StringContent(state, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("signal_count").GetInt32());
        var signal = Assert.Single((await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id=tenant-legacy")).EnumerateArray());
        Assert.Equal(("SIG-legacy", "Legacy backup payload", "bug", "high"), (signal.GetProperty("signal_id").GetString(),
            signal.GetProperty("summary").GetString(), signal.GetProperty("signal_type").GetString(), signal.GetProperty("severity").GetString()));
        var now = factory.Clock.GetUtcNow();
        Assert.Equal((now, now, now), (signal.GetProperty("recorded_at").GetDateTimeOffset(),
            signal.GetProperty("first_seen_at").GetDateTimeOffset(), signal.GetProperty("last_seen_at").GetDateTimeOffset()));
        Assert.Equal((0.0, "low", 1), (signal.GetProperty("quality_score").GetDouble(), signal.GetProperty("quality_label").GetString(),
            signal.GetProperty("occurrence_count").GetInt32()));
    }

    [Fact]
    public async Task Calibration_without_a_target_aims_at_the_configured_auto_intake_max_items()
    {
        await using var factory = new LearningServiceFactory(postgres, ("Learning:AutoIntake:MaxItems", "2"));
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = $"calibration-{Guid.NewGuid():N}"[..24];
        foreach (var (summary, severity) in new[] { ("Critical and well formed", "critical"), ("High one here", "high"), ("Low one with little", "low") })
        {
            (await admin.PostAsJsonAsync($"{Base}/signals", new { summary, severity, tenant_id = tenant })).EnsureSuccessStatusCode();
        }

        var report = await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration?tenant_id={tenant}");

        Assert.Equal(2, report.GetProperty("target_auto_intakes_per_window").GetInt32());
        Assert.Equal(2, report.GetProperty("recommended_auto_intake_max_items").GetInt32());
        Assert.Equal(2, report.GetProperty("policy_snapshot").GetProperty("auto_intake_max_items").GetInt32());
        // A named target still wins.
        Assert.Equal(3, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration?tenant_id={tenant}&target_auto_intakes_per_window=3"))
            .GetProperty("target_auto_intakes_per_window").GetInt32());
    }

    /// <summary>The reference trims and lower-cases these settings before checking them; here " HIGH " stopped the service.</summary>
    [Fact]
    public async Task Settings_are_trimmed_and_lower_cased_before_they_are_checked()
    {
        await using var factory = new LearningServiceFactory(postgres,
            ("Learning:AutoIntake:MinSeverity", " HIGH "), ("Learning:Migration:OnCorruption", " Quarantine "), ("Learning:MaxSignals", "100000"));
        var admin = factory.CreateClient(TestKeys.Admin);

        var calibration = await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration");
        Assert.Equal("high", calibration.GetProperty("policy_snapshot").GetProperty("auto_intake_min_severity").GetString());

        // The corruption setting took effect as "quarantine": an import with one bad record imports the rest by default.
        var state = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(ReferenceFixtures.PathOf("learning", "legacy-state.json")))!;
        state["signals"]![0]!.AsObject().Remove("summary");
        var import = await admin.PostAsync($"{Base}/migrations/import?force=true", new StringContent(state.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());
        Assert.Equal("imported_with_quarantine", (await import.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
    }
}
