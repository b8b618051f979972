using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Testing;
using Npgsql;

namespace Agent33.Learning.Tests;

/// <summary>
/// Keyset paging of <c>/signals</c>, <c>/intakes</c> and <c>/quarantine</c> by <c>Link: rel="next"</c>, the time filters,
/// and <c>/signals/export</c> as NDJSON, on real Postgres. Signals are seeded in bulk with SQL, seven to a timestamp, so
/// page ends fall inside runs of equal times.
/// </summary>
public sealed class PagingTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";
    private static readonly DateTimeOffset Newest = new(2026, 11, 20, 11, 0, 0, TimeSpan.Zero);

    private LearningServiceFactory Service() => new(postgres, ("Learning:MaxSignals", "1000000"), ("Learning:RetentionDays", "3650"));

    private static string NewTenant() => $"p{Guid.NewGuid():N}"[..20];

    /// <summary>Signal <c>n</c> (1-based) is recorded <c>n / 7</c> seconds before <see cref="Newest"/>; even ones are incidents, odd ones feedback.</summary>
    private async Task SeedSignalsAsync(string tenant, int count)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO learning_signals (signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context,
                quality_score, quality_label, quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, related_intake_id, fingerprint)
            SELECT $1 || '-' || lpad(g::text, 6, '0'), $2 - (g / 7) * interval '1 second', CASE WHEN g % 2 = 0 THEN 'incident' ELSE 'feedback' END,
                'high', $3, $1, 'seeded signal ' || g, '', 'seed', '{}', 0.5, 'medium', '[]', '{}', 1, NULL, NULL, false, NULL, md5($1 || g)
            FROM generate_series(1, $4) g
            """, connection)
        {
            Parameters = { new() { Value = tenant }, new() { Value = Newest }, new() { Value = Severities.Rank("high") }, new() { Value = count } },
        };
        await insert.ExecuteNonQueryAsync();
    }

    private static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
        {
            return null;
        }
        var link = Assert.Single(values);
        Assert.Matches("^<[^>]+>; rel=\"next\"$", link);
        return link[1..link.IndexOf('>')];
    }

    /// <summary>Follows <c>Link: rel="next"</c> from <paramref name="first"/> to the end; returns every item and the number of pages.</summary>
    private static async Task<(List<JsonElement> Items, int Pages)> WalkAsync(HttpClient client, string first, Func<Task>? betweenPages = null)
    {
        var items = new List<JsonElement>();
        var pages = 0;
        for (var next = first; next is not null; pages++)
        {
            var response = await client.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            items.AddRange((await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray());
            next = NextLink(response);
            if (betweenPages is not null)
            {
                await betweenPages();
            }
        }
        return (items, pages);
    }

    [Fact]
    public async Task Walking_the_pages_of_ten_thousand_signals_visits_each_once_newest_first_while_writers_add_more()
    {
        await using var service = Service();
        var client = service.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await SeedSignalsAsync(tenant, 10_000);

        var written = 0;
        var (items, pages) = await WalkAsync(client, $"{Base}/signals?tenant_id={tenant}&limit=1000", async () =>
        {
            // Writers keep adding while the walk goes on: new signals are newer than every page already read.
            var response = await client.PostAsJsonAsync($"{Base}/signals",
                new { signal_type = "incident", severity = "high", summary = $"written during the walk {written++}", tenant_id = tenant });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        });

        var ids = items.Select(s => s.GetProperty("signal_id").GetString()!).ToList();
        Assert.Equal(10, pages);
        Assert.Equal(10_000, ids.Count);
        Assert.Equal(10_000, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 10_000).Select(n => $"{tenant}-{n:000000}"), ids.Order(StringComparer.Ordinal));
        var times = items.Select(s => s.GetProperty("recorded_at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderDescending(), times);
        Assert.Equal(10, written);
    }

    [Fact]
    public async Task The_next_link_keeps_the_filters_and_the_time_range()
    {
        await using var service = Service();
        var client = service.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await SeedSignalsAsync(tenant, 1_000);
        // Signals 700..1000 are recorded 100..142 s before Newest; until is exclusive, since inclusive.
        var since = Newest.AddSeconds(-130).ToString("O");
        var until = Newest.AddSeconds(-110).ToString("O");

        var (items, pages) = await WalkAsync(client,
            $"{Base}/signals?tenant_id={tenant}&signal_type=incident&limit=13&since={Uri.EscapeDataString(since)}&until={Uri.EscapeDataString(until)}");

        var expected = Enumerable.Range(1, 1_000).Where(n => n % 2 == 0 && n / 7 is > 110 and <= 130).ToList();
        Assert.Equal(expected.Count, items.Count);
        Assert.All(items, s => Assert.Equal("incident", s.GetProperty("signal_type").GetString()));
        Assert.Equal(expected.Select(n => $"{tenant}-{n:000000}").Order(StringComparer.Ordinal),
            items.Select(s => s.GetProperty("signal_id").GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal((expected.Count + 12) / 13, pages);
    }

    [Theory]
    [InlineData("after=not-a-cursor", "invalid_cursor")]
    [InlineData("after=AAAAAAAAAAA", "invalid_cursor")]
    [InlineData("since=yesterday", "invalid_time")]
    [InlineData("since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "invalid_time")]
    [InlineData("limit=1001", "invalid_limit")]
    [InlineData("limit=0", "invalid_limit")]
    public async Task Bad_paging_input_is_a_400_with_its_code(string query, string code)
    {
        await using var service = Service();
        var client = service.CreateClient(TestKeys.Admin);
        foreach (var route in new[] { "signals", "intakes", "quarantine" })
        {
            var response = await client.GetAsync($"{Base}/{route}?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(code, await response.ProblemCodeAsync());
        }
    }

    [Fact]
    public async Task Intakes_and_quarantine_page_newest_first()
    {
        await using var service = Service();
        var client = service.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await using (var connection = new NpgsqlConnection(postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var seed = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new("""
                        INSERT INTO generated_intakes (intake_id, tenant_id, generated_from_signal_id, submitted_at, document)
                        SELECT $1 || '-' || g, $1, NULL, $2 - (g / 2) * interval '1 minute', jsonb_build_object('intake_id', $1 || '-' || g)
                        FROM generate_series(1, 7) g
                        """) { Parameters = { new() { Value = tenant }, new() { Value = Newest } } },
                    new("""
                        INSERT INTO quarantined_records (quarantined_at, source, kind, reason, payload, payload_sha256, payload_bytes, payload_truncated)
                        SELECT $1 + g * interval '1 second', 'paging-test', 'record', 'seeded ' || g, '{}', '', 2, false FROM generate_series(1, 5) g
                        """) { Parameters = { new() { Value = Newest } } },
                },
            };
            await seed.ExecuteNonQueryAsync();
        }

        var (intakes, intakePages) = await WalkAsync(client, $"{Base}/intakes?tenant_id={tenant}&limit=2");
        Assert.Equal(4, intakePages);
        Assert.Equal(Enumerable.Range(1, 7).Select(n => $"{tenant}-{n}").Order(StringComparer.Ordinal),
            intakes.Select(i => i.GetProperty("intake_id").GetString()!).Order(StringComparer.Ordinal));

        var (quarantined, quarantinePages) = await WalkAsync(client, $"{Base}/quarantine?limit=2");
        Assert.Equal(3, quarantinePages);
        Assert.Equal(["seeded 5", "seeded 4", "seeded 3", "seeded 2", "seeded 1"], quarantined.Select(q => q.GetProperty("reason").GetString()));
    }

    [Fact]
    public async Task Export_streams_every_matching_signal_as_ndjson_newest_first_and_only_the_callers_tenant()
    {
        await using var service = Service();
        var client = service.CreateClient(TestKeys.Admin); // starts the service, which migrates the schema
        var tenant = NewTenant();
        await SeedSignalsAsync(tenant, 2_500);
        await SeedSignalsAsync(NewTenant(), 10); // another tenant's: never in this export

        var response = await client.GetAsync($"{Base}/signals/export?tenant_id={tenant}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SignalExport.ContentType, response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n');
        Assert.Equal("", lines[^1]); // every line ends with a newline
        var signals = lines[..^1].Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(2_500, signals.Count);
        Assert.All(signals, s => Assert.Equal(tenant, s.GetProperty("tenant_id").GetString()));
        Assert.Equal(2_500, signals.Select(s => s.GetProperty("signal_id").GetString()).Distinct().Count());
        var times = signals.Select(s => s.GetProperty("recorded_at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderDescending(), times);

        // The same filters as the list; a tenant key reads its own tenant only.
        var incidents = await client.GetStringAsync($"{Base}/signals/export?tenant_id={tenant}&signal_type=incident&since={Uri.EscapeDataString(Newest.AddSeconds(-10).ToString("O"))}");
        Assert.Equal(Enumerable.Range(1, 2_500).Count(n => n % 2 == 0 && n / 7 <= 10), incidents.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var reader = service.CreateClient(TestKeys.Reader);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync($"{Base}/signals/export?tenant_id={tenant}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"{Base}/signals/export?until=soon")).StatusCode);
    }

    /// <summary>An attacker's many exports: a key runs two at once; a third is 429 rate_limited until one ends. Other keys are not held up.</summary>
    [Fact]
    public async Task A_key_runs_two_exports_at_once_and_a_third_is_refused_until_one_ends()
    {
        await using var service = Service();
        var admin = service.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        await SeedSignalsAsync(tenant, 20_000); // megabytes of NDJSON: an export unread by its caller stays in flight

        var first = await admin.GetAsync($"{Base}/signals/export?tenant_id={tenant}", HttpCompletionOption.ResponseHeadersRead);
        var second = await admin.GetAsync($"{Base}/signals/export?tenant_id={tenant}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        var third = await admin.GetAsync($"{Base}/signals/export?tenant_id={tenant}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("rate_limited", await third.ProblemCodeAsync());
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await service.CreateClient(TestKeys.Reader).GetAsync($"{Base}/signals/export")).StatusCode);

        // The first read to its end frees its slot.
        Assert.Equal(20_000, (await first.Content.ReadAsStringAsync()).Count(c => c == '\n'));
        first.Dispose();
        using var fourth = await admin.GetAsync($"{Base}/signals/export?tenant_id={tenant}&until={Uri.EscapeDataString(Newest.AddSeconds(-2000).ToString("O"))}");
        Assert.Equal(HttpStatusCode.OK, fourth.StatusCode);
        second.Dispose();
    }
}
