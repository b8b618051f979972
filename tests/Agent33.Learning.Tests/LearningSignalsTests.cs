using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Learning.Persistence;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Learning.Tests;

/// <summary>The reference's learning-signal behaviours, against real Postgres. Each test writes to its own tenant.</summary>
public sealed class LearningSignalsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    private static string NewTenant() => $"t{Guid.NewGuid():N}"[..20];

    private static object Signal(string tenant, string summary = "Database connection pool exhausted under load", string type = "incident",
        string severity = "high", string details = "", string source = "prod-monitor", Dictionary<string, string>? context = null) =>
        new { signal_type = type, severity, summary, details, source, context = context ?? new Dictionary<string, string> { ["region"] = "eu" }, tenant_id = tenant };

    private static async Task<JsonElement> PostAsync(HttpClient client, object body, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var response = await client.PostAsJsonAsync($"{Base}/signals", body);
        Assert.Equal(expected, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task A_signal_round_trips_with_scoring_and_enrichment()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();

        var created = await PostAsync(admin, Signal(tenant, details: new string('d', 100), context: new() { ["a"] = "1", ["b"] = "2" }));

        Assert.StartsWith("LS-", created.GetProperty("signal_id").GetString());
        Assert.Equal(15, created.GetProperty("signal_id").GetString()!.Length);
        Assert.Equal(0.686, created.GetProperty("quality_score").GetDouble());
        Assert.Equal("medium", created.GetProperty("quality_label").GetString());
        Assert.Equal(["well_formed_signal"], created.GetProperty("quality_reasons").EnumerateArray().Select(r => r.GetString()));
        var enrichment = created.GetProperty("enrichment");
        Assert.Equal(("true", "2", "45", "100"), (enrichment.GetProperty("has_source").GetString(), enrichment.GetProperty("context_items").GetString(),
            enrichment.GetProperty("summary_length").GetString(), enrichment.GetProperty("details_length").GetString()));
        Assert.Equal(1, created.GetProperty("occurrence_count").GetInt32());

        factory.Clock.Advance(TimeSpan.FromSeconds(1));
        var poor = await PostAsync(admin, new { summary = "short", severity = "low", tenant_id = tenant });
        Assert.Equal((0.121, "low"), (poor.GetProperty("quality_score").GetDouble(), poor.GetProperty("quality_label").GetString()));
        Assert.Equal(["summary_too_short", "details_missing", "source_missing", "context_missing"],
            poor.GetProperty("quality_reasons").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("feedback", poor.GetProperty("signal_type").GetString());

        var listed = await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}");
        Assert.Equal([poor.GetProperty("signal_id").GetString(), created.GetProperty("signal_id").GetString()],
            listed.EnumerateArray().Select(s => s.GetProperty("signal_id").GetString()));
    }

    [Fact]
    public async Task Filters_and_summary_counts()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await PostAsync(admin, Signal(tenant, "First bug in checkout flow", type: "bug", severity: "low"));
        await PostAsync(admin, Signal(tenant, "Second bug in checkout flow", type: "bug", severity: "critical"));
        await PostAsync(admin, Signal(tenant, "Latency regression in search", type: "performance", severity: "critical"));

        Assert.Equal(2, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}&type=bug")).GetArrayLength());
        Assert.Equal(2, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}&severity=critical")).GetArrayLength());
        Assert.Equal(1, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}&limit=1")).GetArrayLength());

        var summary = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}")).GetProperty("summary");
        Assert.Equal(3, summary.GetProperty("total_signals").GetInt32());
        Assert.Equal(2, summary.GetProperty("counts_by_type").GetProperty("bug").GetInt32());
        Assert.Equal(2, summary.GetProperty("counts_by_severity").GetProperty("critical").GetInt32());
        Assert.Equal(3, summary.GetProperty("counts_by_tenant").GetProperty(tenant).GetInt32());
        Assert.Equal("stable", summary.GetProperty("trend_direction").GetString());
    }

    [Fact]
    public async Task Duplicates_inside_the_window_merge_and_outside_it_do_not()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var first = await PostAsync(admin, Signal(tenant, "Cache misses spike", severity: "medium", details: "short", context: new() { ["a"] = "1" }));

        factory.Clock.Advance(TimeSpan.FromMinutes(10));
        var merged = await PostAsync(admin, Signal(tenant, "  CACHE   misses spike ", severity: "critical", details: "much longer details", source: "PROD-MONITOR ",
            context: new() { ["a"] = "ignored", ["b"] = "2" }), HttpStatusCode.OK);
        Assert.Equal(first.GetProperty("signal_id").GetString(), merged.GetProperty("signal_id").GetString());
        Assert.Equal(2, merged.GetProperty("occurrence_count").GetInt32());
        Assert.Equal("critical", merged.GetProperty("severity").GetString());
        Assert.Equal("much longer details", merged.GetProperty("details").GetString());
        Assert.Equal(("1", "2"), (merged.GetProperty("context").GetProperty("a").GetString(), merged.GetProperty("context").GetProperty("b").GetString()));
        Assert.Equal(factory.Clock.GetUtcNow(), merged.GetProperty("last_seen_at").GetDateTimeOffset());
        Assert.True(merged.GetProperty("quality_score").GetDouble() > first.GetProperty("quality_score").GetDouble());

        factory.Clock.Advance(TimeSpan.FromMinutes(31));
        var separate = await PostAsync(admin, Signal(tenant, "Cache misses spike"));
        Assert.NotEqual(first.GetProperty("signal_id").GetString(), separate.GetProperty("signal_id").GetString());

        // A different type is a different signal even with the same summary.
        await PostAsync(admin, Signal(tenant, "Cache misses spike", type: "bug"));
    }

    [Fact]
    public async Task Concurrent_writers_of_one_fingerprint_lose_no_occurrence()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var tenant = NewTenant();
        var clients = Enumerable.Range(0, 4).Select(_ => factory.CreateClient(TestKeys.Admin)).ToArray();

        var responses = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            clients[i % clients.Length].PostAsJsonAsync($"{Base}/signals", Signal(tenant, "Queue backlog grows"))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(23, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var stored = await clients[0].GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}");
        Assert.Equal(24, Assert.Single(stored.EnumerateArray()).GetProperty("occurrence_count").GetInt32());
    }

    [Fact]
    public async Task Keys_see_only_their_tenant_and_admins_may_name_one()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var writer = factory.CreateClient(TestKeys.Writer);   // tenant-a
        var other = factory.CreateClient(TestKeys.OtherWriter); // tenant-b
        var reader = factory.CreateClient(TestKeys.Reader);   // tenant-a, read only

        var mine = await PostAsync(writer, new { summary = "Tenant A only signal here", severity = "low" });
        Assert.Equal("tenant-a", mine.GetProperty("tenant_id").GetString());

        var denied = await other.GetAsync($"{Base}/signals?tenant_id=tenant-a");
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("cross_tenant_denied", await denied.ProblemCodeAsync());
        Assert.DoesNotContain((await other.GetFromJsonAsync<JsonElement>($"{Base}/signals")).EnumerateArray(),
            s => s.GetProperty("signal_id").GetString() == mine.GetProperty("signal_id").GetString());

        Assert.Equal(HttpStatusCode.Forbidden, (await other.PostAsJsonAsync($"{Base}/signals", new { summary = "x", tenant_id = "tenant-a" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PostAsJsonAsync($"{Base}/signals", new { summary = "read keys cannot write" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await writer.GetAsync($"{Base}/signals?tenant_id=*")).StatusCode);

        var admin = factory.CreateClient(TestKeys.Admin);
        Assert.Contains((await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id=tenant-a")).EnumerateArray(),
            s => s.GetProperty("signal_id").GetString() == mine.GetProperty("signal_id").GetString());
    }

    [Fact]
    public async Task Summary_window_and_trends_compare_with_the_previous_window()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        // Previous window: one bug (merged twice). Current window: two bugs and one incident.
        await PostAsync(admin, Signal(tenant, "Old checkout bug report", type: "bug"));
        await PostAsync(admin, Signal(tenant, "Old checkout bug report", type: "bug"), HttpStatusCode.OK);
        factory.Clock.Advance(TimeSpan.FromDays(8));
        await PostAsync(admin, Signal(tenant, "New checkout bug report", type: "bug", severity: "low"));
        await PostAsync(admin, Signal(tenant, "Another new bug report", type: "bug", severity: "low"));
        await PostAsync(admin, Signal(tenant, "Payment outage happened", type: "incident", severity: "critical"));

        var summary = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}&window_days=7")).GetProperty("summary");
        Assert.Equal((3, 1, 2, "up"), (summary.GetProperty("total_signals").GetInt32(), summary.GetProperty("previous_window_total").GetInt32(),
            summary.GetProperty("trend_delta").GetInt32(), summary.GetProperty("trend_direction").GetString()));

        var trends = await admin.GetFromJsonAsync<JsonElement>($"{Base}/trends?tenant_id={tenant}&window_days=7");
        var bug = trends.GetProperty("categories").EnumerateArray().Single(c => c.GetProperty("key").GetString() == "bug");
        // Signals 2 vs 1 (up), occurrences 2 vs 2: equal occurrences, more signals → up.
        Assert.Equal((2, 1, 2, 2, "up"), (bug.GetProperty("current_signals").GetInt32(), bug.GetProperty("previous_signals").GetInt32(),
            bug.GetProperty("current_occurrences").GetInt32(), bug.GetProperty("previous_occurrences").GetInt32(), bug.GetProperty("direction").GetString()));
        Assert.Equal((3, 1, 3, 2), (trends.GetProperty("total_current_signals").GetInt32(), trends.GetProperty("total_previous_signals").GetInt32(),
            trends.GetProperty("total_current_occurrences").GetInt32(), trends.GetProperty("total_previous_occurrences").GetInt32()));

        var bySeverity = await admin.GetFromJsonAsync<JsonElement>($"{Base}/trends?tenant_id={tenant}&window_days=7&dimension=severity");
        Assert.Equal(["critical", "high", "low"], bySeverity.GetProperty("categories").EnumerateArray().Select(c => c.GetProperty("key").GetString()));
    }

    [Fact]
    public async Task Auto_intakes_follow_severity_then_quality_honour_the_threshold_and_are_idempotent()
    {
        await using var factory = new LearningServiceFactory(postgres,
            ("Learning:AutoIntake:Enabled", "true"), ("Learning:AutoIntake:MinQuality", "0.5"), ("Learning:AutoIntake:MaxItems", "2"));
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var highRich = await PostAsync(admin, Signal(tenant, "High severity with details", severity: "high", details: new string('d', 160)));
        var critical = await PostAsync(admin, Signal(tenant, "Critical severity issue", severity: "critical"));
        var highPlain = await PostAsync(admin, Signal(tenant, "High severity plain one", severity: "high", details: new string('d', 80)));
        await PostAsync(admin, Signal(tenant, "Low quality", severity: "high", source: "", context: []));  // below 0.5
        await PostAsync(admin, Signal(tenant, "Medium severity skipped", severity: "medium", details: new string('d', 160)));

        var first = await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}&generate_intakes=true");
        var intakes = first.GetProperty("generated_intakes").EnumerateArray().ToList();
        Assert.Equal([critical.GetProperty("signal_id").GetString(), highRich.GetProperty("signal_id").GetString()],
            intakes.Select(i => i.GetProperty("generated_from_signal_id").GetString()));
        Assert.Equal(("learning:incident", "high", "learning-service"), (intakes[0].GetProperty("classification").GetProperty("category").GetString(),
            intakes[0].GetProperty("classification").GetProperty("urgency").GetString(), intakes[0].GetProperty("submitted_by").GetString()));
        Assert.StartsWith("Learning signal: ", intakes[0].GetProperty("content").GetProperty("title").GetString());

        var second = await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}&generate_intakes=true");
        Assert.Equal([highPlain.GetProperty("signal_id").GetString()],
            second.GetProperty("generated_intakes").EnumerateArray().Select(i => i.GetProperty("generated_from_signal_id").GetString()));
        var third = await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}&generate_intakes=true");
        Assert.Equal(0, third.GetProperty("generated_intakes").GetArrayLength());

        Assert.Equal(3, (await admin.GetFromJsonAsync<JsonElement>($"{Base}/intakes?tenant_id={tenant}")).GetArrayLength());
        var linked = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}")).EnumerateArray()
            .Single(s => s.GetProperty("signal_id").GetString() == critical.GetProperty("signal_id").GetString());
        Assert.True(linked.GetProperty("intake_generated").GetBoolean());
        Assert.StartsWith("RI-", linked.GetProperty("related_intake_id").GetString());
    }

    [Fact]
    public async Task Generate_intakes_does_nothing_while_auto_intake_is_off()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await PostAsync(admin, Signal(tenant, "Critical and well formed", severity: "critical", details: new string('d', 160)));
        var summary = await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id={tenant}&generate_intakes=true");
        Assert.Equal(0, summary.GetProperty("generated_intakes").GetArrayLength());
    }

    [Fact]
    public async Task Calibration_recommends_from_the_window_and_defaults_without_signals()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();

        var empty = await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration?tenant_id={tenant}");
        Assert.Equal((0, 0.45, "high", 1, 365), (empty.GetProperty("sample_signals").GetInt32(), empty.GetProperty("recommended_auto_intake_min_quality").GetDouble(),
            empty.GetProperty("recommended_auto_intake_min_severity").GetString(), empty.GetProperty("recommended_auto_intake_max_items").GetInt32(),
            empty.GetProperty("recommended_retention_days").GetInt32()));

        await PostAsync(admin, Signal(tenant, "Critical and well formed", severity: "critical", details: new string('d', 160)));
        await PostAsync(admin, Signal(tenant, "Low one with little", severity: "low"));
        await PostAsync(admin, Signal(tenant, "Medium one with little", severity: "medium"));
        var report = await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration?tenant_id={tenant}&target_auto_intakes_per_window=2");
        Assert.Equal(3, report.GetProperty("sample_signals").GetInt32());
        Assert.Equal(0.1, report.GetProperty("observed_daily_occurrence_rate").GetDouble());
        Assert.Equal(0.333, report.GetProperty("observed_high_or_critical_ratio").GetDouble());
        Assert.Equal("medium", report.GetProperty("recommended_auto_intake_min_severity").GetString());
        Assert.Equal(2, report.GetProperty("recommended_auto_intake_max_items").GetInt32());
    }

    /// <summary>
    /// The window's statistics, computed by Postgres, are the reference's formulas over every signal in it: the mean of the
    /// qualities summed in descending order, the value at index round((n-1)·p) of the ascending qualities for p75 and p90,
    /// the target-th best quality, the high-or-critical share and the occurrences (each at least 1). Signals older than the
    /// window or of another tenant count for nothing. Qualities repeat, so ties sit at the chosen indexes.
    /// </summary>
    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 1)]
    [InlineData(4, 10)]
    [InlineData(101, 7)]
    [InlineData(1000, 3)]
    public async Task Calibration_statistics_are_the_reference_formulas_over_the_whole_window(int count, int target)
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var now = factory.Clock.GetUtcNow();
        var qualities = Enumerable.Range(0, count).Select(i => (i * 37 % 23) / 23.0 + i % 3 * 1e-9).ToList();
        var ranks = Enumerable.Range(0, count).Select(i => i % 4 + 1).ToList();
        var occurrences = Enumerable.Range(0, count).Select(i => i % 5).ToList(); // 0 counts as 1
        await using (var connection = new Npgsql.NpgsqlConnection(postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var seed = new Npgsql.NpgsqlCommand(
                """
                INSERT INTO learning_signals (signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context,
                    quality_score, quality_label, quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, related_intake_id, fingerprint)
                SELECT t || '-' || i, $2 - (i % 40) * interval '1 day' + interval '1 hour', 'incident', 'high', r, t, 'seeded', '', '', '{}',
                    q, 'medium', '[]', '{}', o, NULL, NULL, false, NULL, md5($1 || i || t)
                FROM unnest($3::float8[], $4::int[], $5::int[]) WITH ORDINALITY AS s(q, r, o, i), unnest(ARRAY[$1, $1 || 'x']) AS t
                """, connection)
            {
                Parameters = { new() { Value = tenant }, new() { Value = now }, new() { Value = qualities.ToArray() }, new() { Value = ranks.ToArray() }, new() { Value = occurrences.ToArray() } },
            };
            await seed.ExecuteNonQueryAsync();
        }
        // Ordinality i is 1-based: signal i is (i % 40) days less an hour old, so those with i % 40 > 30 are outside the 30-day window.
        var inWindow = Enumerable.Range(0, count).Where(i => (i + 1) % 40 <= 30).ToList();

        var report = await admin.GetFromJsonAsync<JsonElement>($"{Base}/calibration?tenant_id={tenant}&window_days=30&target_auto_intakes_per_window={target}");

        var descending = inWindow.Select(i => qualities[i]).OrderDescending().ToList();
        var ascending = descending.AsEnumerable().Reverse().ToList();
        double At(double p) => ascending[(int)Math.Round((ascending.Count - 1) * p, MidpointRounding.ToEven)];
        double Round(double value) => Agent33.ServiceDefaults.Compatibility.PythonRound.Round(value, 3);
        Assert.Equal(inWindow.Count, report.GetProperty("sample_signals").GetInt32());
        Assert.Equal(inWindow.Sum(i => Math.Max(1, occurrences[i])), report.GetProperty("sample_occurrences").GetInt32());
        Assert.Equal(Round(descending.Sum() / descending.Count), report.GetProperty("observed_average_quality_score").GetDouble());
        Assert.Equal(Round(At(0.75)), report.GetProperty("observed_quality_p75").GetDouble());
        Assert.Equal(Round(At(0.90)), report.GetProperty("observed_quality_p90").GetDouble());
        Assert.Equal(Round(descending[Math.Min(target, descending.Count) - 1]), report.GetProperty("recommended_auto_intake_min_quality").GetDouble());
        Assert.Equal(Round(inWindow.Count(i => ranks[i] >= 3) / (double)inWindow.Count), report.GetProperty("observed_high_or_critical_ratio").GetDouble());
    }

    [Theory]
    [InlineData("/signals?signal_type=nope", "invalid_signal_type")]
    [InlineData("/signals?severity=extreme", "invalid_severity")]
    [InlineData("/signals?limit=0", "invalid_limit")]
    [InlineData("/signals?limit=many", "invalid_limit")]
    [InlineData("/summary?window_days=0", "invalid_window")]
    [InlineData("/summary?window_days=99999", "invalid_window")]
    [InlineData("/trends?dimension=tenant", "invalid_dimension")]
    [InlineData("/trends?window_days=-1", "invalid_window")]
    [InlineData("/calibration?target_auto_intakes_per_window=0", "invalid_target")]
    [InlineData("/signals?tenant_id=bad%20tenant", "invalid_tenant")]
    public async Task Bad_query_parameters_get_400_with_a_code(string path, string code)
    {
        await using var factory = new LearningServiceFactory(postgres);
        var response = await factory.CreateClient(TestKeys.Admin).GetAsync(Base + path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await response.ProblemCodeAsync());
    }

    [Theory]
    [InlineData("""{"summary": "x", "signal_type": "rumour"}""", "invalid_signal_type")]
    [InlineData("""{"summary": "x", "type": "rumour"}""", "invalid_signal_type")]
    [InlineData("""{"summary": "x", "severity": "apocalyptic"}""", "invalid_severity")]
    [InlineData("""{"severity": "high"}""", "invalid_signal")] // no summary (an empty one is a signal, as in the reference)
    [InlineData("""{"summary": "x", "context": {"k": 5}}""", "invalid_json")]
    [InlineData("""{"summary": 5}""", "invalid_json")]
    [InlineData("""{"summary": "null byte \u0000 in it"}""", "invalid_signal")] // Postgres text cannot hold U+0000
    [InlineData("""{"summary": "fine", "context": {"k": "\u0000"}}""", "invalid_signal")]
    [InlineData("""{"summary": "half an emoji \ud83d here"}""", "invalid_json")] // an unpaired surrogate has no UTF-8 form
    [InlineData("""{"summary": "fine", "context": {"\udc00": "v"}}""", "invalid_json")]
    public async Task Bad_signals_get_400_and_store_nothing(string body, string code)
    {
        await using var factory = new LearningServiceFactory(postgres);
        var client = factory.CreateClient(TestKeys.OtherWriter);
        var before = (await client.GetFromJsonAsync<JsonElement>($"{Base}/signals?limit=1000")).GetArrayLength();
        var response = await client.PostAsync($"{Base}/signals", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await response.ProblemCodeAsync());
        Assert.Equal(before, (await client.GetFromJsonAsync<JsonElement>($"{Base}/signals?limit=1000")).GetArrayLength());
    }

    [Fact]
    public async Task Bad_settings_stop_the_service_naming_the_setting()
    {
        foreach (var (key, value) in new[]
                 {
                     ("Learning:AutoIntake:MinQuality", "1.5"), ("Learning:AutoIntake:MaxItems", "0"), ("Learning:AutoIntake:MinSeverity", "urgent"),
                     ("Learning:GroupCommit:MaxBatchSize", "0"), ("Learning:GroupCommit:WaitMilliseconds", "-1"),
                 })
        {
            await using var factory = new LearningServiceFactory(postgres, (key, value));
            var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
            Assert.Contains(key, error.ToString());
        }
    }
}
