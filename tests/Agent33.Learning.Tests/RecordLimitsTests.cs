using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Testing;

namespace Agent33.Learning.Tests;

/// <summary>
/// What a restore or an import may bring in is bounded like what <c>POST /signals</c> accepts: a record over a limit
/// is refused or quarantined, an upload over the configured size is a 413, and what the quarantine keeps is bounded
/// too, so no input can leave the service unable to list, back up or clean up (found by the adversarial probe:
/// a 256 MB restored <c>details</c> made <c>GET /signals</c> and backups 500 forever; a 300 MB corrupt import was
/// read whole and quarantined verbatim, after which <c>GET /quarantine</c> was a permanent 500).
/// </summary>
public sealed class RecordLimitsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    private LearningServiceFactory Service(params (string, string)[] settings) =>
        new(postgres, [("Learning:MaxSignals", "100000"), ("Learning:PruneIntervalSeconds", "86400"), .. settings]);

    private static JsonNode LegacyState() => JsonNode.Parse(File.ReadAllText(ReferenceFixtures.PathOf("learning", "legacy-state.json")))!;

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static async Task<int> CountAsync(HttpClient admin) =>
        (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id=*&limit=10000")).GetProperty("summary").GetProperty("total_signals").GetInt32();

    private static async Task<List<JsonElement>> QuarantineAsync(HttpClient admin) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>($"{Base}/quarantine?limit=1000")).EnumerateArray()];

    /// <summary>One signal of the reference's state damaged: a field made one character longer than POST /signals allows, and so on.</summary>
    public static TheoryData<string, string> OverLimit => new()
    {
        { "summary", "summary is longer than 2,000 characters" },
        { "details", "details is longer than 20,000 characters" },
        { "source", "source is longer than 500 characters" },
        { "context_entries", "context holds more than 50 entries" },
        { "context_value", "is longer than 2,000 characters" },
        { "context_key", "a context key is longer than 100 characters" },
        { "enrichment", "enrichment holds more than 50 entries" },
        { "quality_reasons", "quality_reasons holds more than 50 entries" },
        { "intake", "the intake is larger than 256 KiB" },
    };

    private static string StateWith(string damage)
    {
        var state = LegacyState();
        var signal = state["signals"]![3]!.AsObject();
        switch (damage)
        {
            case "summary":
                signal["summary"] = new string('s', 2_001);
                break;
            case "details":
                signal["details"] = new string('d', 20_001);
                break;
            case "source":
                signal["source"] = new string('o', 501);
                break;
            case "context_entries":
                signal["context"] = new JsonObject(Enumerable.Range(0, 51).Select(i => KeyValuePair.Create($"k{i}", (JsonNode?)"v")));
                break;
            case "context_value":
                signal["context"] = new JsonObject { ["k"] = new string('v', 2_001) };
                break;
            case "context_key":
                signal["context"] = new JsonObject { [new string('k', 101)] = "v" };
                break;
            case "enrichment":
                signal["enrichment"] = new JsonObject(Enumerable.Range(0, 51).Select(i => KeyValuePair.Create($"e{i}", (JsonNode?)"v")));
                break;
            case "quality_reasons":
                signal["quality_reasons"] = new JsonArray([.. Enumerable.Range(0, 51).Select(i => (JsonNode?)$"reason_{i}")]);
                break;
            case "intake":
                state["generated_intakes"]![0]!["content"]!["summary"] = new string('i', 300 * 1024);
                break;
        }
        return state.ToJsonString();
    }

    [Theory]
    [MemberData(nameof(OverLimit))]
    public async Task A_record_over_the_signal_limits_fails_a_restore_and_an_import_quarantines_it(string damage, string reason)
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        var body = StateWith(damage);
        var before = await CountAsync(admin);

        var restore = await admin.PostAsync($"{Base}/restore", Json(body));
        var problem = await restore.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.BadRequest, "backup_invalid"), (restore.StatusCode, problem.ProblemCode()));
        Assert.Contains(reason, problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountAsync(admin));

        var import = await admin.PostAsync($"{Base}/migrations/import?on_corruption=quarantine&force=true", Json(body));
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());
        var imported = await import.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("imported_with_quarantine", 1), (imported.GetProperty("status").GetString(), imported.GetProperty("quarantined").GetInt32()));
        Assert.Contains(await QuarantineAsync(admin), q => q.GetProperty("reason").GetString()!.Contains(reason));
        // What was let in can still be listed and backed up.
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"{Base}/signals?tenant_id=*&limit=1000")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync($"{Base}/backups", null)).StatusCode);
    }

    /// <summary>
    /// Found by the adversarial probe: a restore took tenants "*" (which reads as every tenant), "../x" and "". A record's
    /// tenant must be a name a key could carry; a signal's and an intake's alike.
    /// </summary>
    [Theory]
    [InlineData("signals", "*")]
    [InlineData("signals", "../x")]
    [InlineData("signals", "")]
    [InlineData("generated_intakes", "*")]
    [InlineData("generated_intakes", "tenant a")]
    public async Task A_record_naming_no_valid_tenant_fails_a_restore_and_an_import_quarantines_it(string section, string tenant)
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        var state = LegacyState();
        state[section]![2]!["tenant_id"] = tenant;
        var body = state.ToJsonString();
        var reason = $"tenant_id '{tenant}' is not a tenant name";
        var before = await CountAsync(admin);

        var restore = await admin.PostAsync($"{Base}/restore", Json(body));
        var problem = await restore.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.BadRequest, "backup_invalid"), (restore.StatusCode, problem.ProblemCode()));
        Assert.Contains(reason, problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountAsync(admin));

        var import = await admin.PostAsync($"{Base}/migrations/import?on_corruption=quarantine&force=true", Json(body));
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());
        Assert.Equal(1, (await import.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("quarantined").GetInt32());
        Assert.Contains(await QuarantineAsync(admin), q => q.GetProperty("reason").GetString()!.Contains(reason));
        var tenants = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id=*&limit=10000")).GetProperty("summary").GetProperty("counts_by_tenant");
        Assert.All(tenants.EnumerateObject(), t => Assert.Matches("^[a-z0-9-]+$", t.Name));
    }

    /// <summary>
    /// A record far larger than any the service accepts (here 5 MB; the probe sent 256 MB) is never held whole: the
    /// reader skips it, a restore is refused, an import quarantines its first 64 KiB with the hash and size of all of it.
    /// </summary>
    [Fact]
    public async Task A_record_beyond_the_readers_limit_is_skipped_refused_by_a_restore_and_quarantined_by_hash_by_an_import()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        var state = LegacyState();
        state["signals"]![3]!["details"] = new string('d', 5_000_000);
        var record = state["signals"]![3]!.ToJsonString();
        var body = state.ToJsonString();
        var before = await CountAsync(admin);

        var restore = await admin.PostAsync($"{Base}/restore", Json(body));
        var problem = await restore.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.BadRequest, "backup_invalid"), (restore.StatusCode, problem.ProblemCode()));
        Assert.Contains("larger than 4 MiB", problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountAsync(admin));

        var import = await admin.PostAsync($"{Base}/migrations/import?on_corruption=quarantine&force=true", Json(body));
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());
        Assert.Equal(99, await CountAsync(admin));
        var kept = Assert.Single(await QuarantineAsync(admin), q => q.GetProperty("reason").GetString()!.Contains("larger than 4 MiB"));
        Assert.Equal("signal", kept.GetProperty("kind").GetString());
        Assert.True(kept.GetProperty("payload_truncated").GetBoolean());
        Assert.Equal(Encoding.UTF8.GetByteCount(record), kept.GetProperty("payload_bytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(record))), kept.GetProperty("payload_sha256").GetString());
        Assert.StartsWith(record[..1000], kept.GetProperty("payload").GetString());
        Assert.InRange(Encoding.UTF8.GetByteCount(kept.GetProperty("payload").GetString()!), 60 * 1024, 64 * 1024);
    }

    [Fact]
    public async Task An_import_larger_than_the_configured_limit_is_413_and_changes_nothing()
    {
        await using var factory = Service(("Learning:Migration:MaxImportBytes", "10000"));
        var admin = factory.CreateClient(TestKeys.Admin);
        var before = (await CountAsync(admin), (await QuarantineAsync(admin)).Count);
        var body = Encoding.UTF8.GetBytes(LegacyState().ToJsonString());

        // Declared too large, and too large without a declared length (chunked): neither is read past the limit.
        var declared = await admin.PostAsync($"{Base}/migrations/import?force=true", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } });
        var chunked = await admin.PostAsync($"{Base}/migrations/import?force=true",
            new StreamContent(new NonSeekableStream(body)) { Headers = { ContentType = new("application/json") } });

        foreach (var response in new[] { declared, chunked })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("payload_too_large", problem.ProblemCode());
            Assert.Contains("Learning:Migration:MaxImportBytes", problem.GetProperty("detail").GetString());
        }
        Assert.Equal(before, (await CountAsync(admin), (await QuarantineAsync(admin)).Count));
    }

    [Fact]
    public async Task A_restore_larger_than_the_configured_limit_is_413_and_changes_nothing()
    {
        await using var factory = Service(("Learning:Backups:MaxRestoreBytes", "10000"));
        var admin = factory.CreateClient(TestKeys.Admin);
        var before = await CountAsync(admin);

        var response = await admin.PostAsync($"{Base}/restore", Json(LegacyState().ToJsonString()));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("payload_too_large", await response.ProblemCodeAsync());
        Assert.Equal(before, await CountAsync(admin));
    }

    [Fact]
    public async Task A_corrupt_payload_is_quarantined_as_its_first_64_KiB_with_the_hash_and_size_of_all_of_it()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        // 300 KB of a document that never ends (the probe's was 300 MB), with a NUL byte Postgres text cannot hold.
        var payload = Encoding.UTF8.GetBytes("{\"signals\": [{\"summary\": \"\0" + new string('x', 300_000));

        var response = await admin.PostAsync($"{Base}/migrations/import?force=true", new ByteArrayContent(payload) { Headers = { ContentType = new("application/json") } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var kept = (await QuarantineAsync(admin)).First(q => q.GetProperty("kind").GetString() == "payload");
        Assert.Equal(payload.Length, kept.GetProperty("payload_bytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(payload)), kept.GetProperty("payload_sha256").GetString());
        Assert.True(kept.GetProperty("payload_truncated").GetBoolean());
        var excerpt = kept.GetProperty("payload").GetString()!;
        Assert.Equal(64 * 1024, excerpt.Length); // one character per byte here, the NUL shown as U+FFFD
        Assert.StartsWith("{\"signals\": [{\"summary\": \"\uFFFDxxx", excerpt);
    }

    [Fact]
    public async Task An_admin_purges_a_quarantined_record_and_an_unknown_one_is_404()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        await admin.PostAsync($"{Base}/migrations/import?force=true", Json("{\"signals\": [{\"summary\": 5"));
        var id = (await QuarantineAsync(admin)).First().GetProperty("id").GetInt64();

        Assert.Equal(HttpStatusCode.Forbidden, (await factory.CreateClient(TestKeys.Writer).DeleteAsync($"{Base}/quarantine/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"{Base}/quarantine/{id}")).StatusCode);
        Assert.DoesNotContain(await QuarantineAsync(admin), q => q.GetProperty("id").GetInt64() == id);

        foreach (var unknown in new[] { id.ToString(System.Globalization.CultureInfo.InvariantCulture), "999999999", "abc", "-1" })
        {
            var gone = await admin.DeleteAsync($"{Base}/quarantine/{unknown}");
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            Assert.Equal("quarantine_not_found", await gone.ProblemCodeAsync());
        }
        await using var connection = new Npgsql.NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var query = new Npgsql.NpgsqlCommand("SELECT count(*) FROM audit_events WHERE kind = 'quarantine_purged'", connection);
        Assert.True((long)(await query.ExecuteScalarAsync())! >= 1);
    }

    /// <summary>A body whose length the client cannot know in advance: sent chunked.</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
