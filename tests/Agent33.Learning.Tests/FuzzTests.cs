using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Testing;
using CsCheck;
using Npgsql;
using Xunit.Abstractions;

namespace Agent33.Learning.Tests;

/// <summary>
/// Property-based fuzzing (CsCheck) of the request parsers and the backup envelope reader: whatever arrives is
/// accepted or refused with a 4xx problem and a code, never a 5xx, and a refusal changes nothing.
/// </summary>
public sealed class FuzzTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";

    private static readonly JsonNode?[] SignalTypes = ["bug", "incident", "feedback", "performance", "security", "process", "outage"];

    private static readonly Dictionary<string, JsonNode?[]> SignalFields = new()
    {
        ["signal_type"] = SignalTypes,
        ["type"] = SignalTypes,
        ["severity"] = ["low", "medium", "high", "critical", "urgent"],
        ["summary"] = ["Database connection pool exhausted under load", "short"],
        ["details"] = ["The pool ran dry at peak and requests queued for seconds."],
        ["source"] = ["fuzz-test"],
        ["context"] = [new JsonObject { ["region"] = "eu" }, new JsonObject { ["attempt"] = 3 }],
        ["tenant_id"] = ["tenant-a", "tenant-a", "tenant-a", "tenant-b", "", "Not A Tenant!"],
    };

    [Fact]
    public async Task Any_signal_body_is_stored_or_refused_with_a_code_and_a_refusal_stores_nothing()
    {
        await using var factory = new LearningServiceFactory(postgres, ("RateLimiting:WritesPerSecond", "0"));
        var client = factory.CreateClient(TestKeys.Writer);
        int stored = 0, refused = 0;

        await FuzzInputs.Body(FuzzInputs.ObjectWith(SignalFields)).SampleAsync(async body =>
        {
            var before = await DigestAsync();
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await client.PostAsync($"{Base}/signals", content);
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK)
            {
                stored++;
                return;
            }
            refused++;
            await AssertRefusedWithACodeAsync(response);
            Assert.Equal(before, await DigestAsync());
        }, iter: 400, threads: 1, print: Show);

        output.WriteLine($"400 bodies: {stored} stored, {refused} refused with a code");
        Assert.True(stored > 5 && refused > 100, $"the generator reached too little of either side ({stored} stored, {refused} refused)");
    }

    [Fact]
    public async Task Any_query_on_the_read_routes_answers_200_or_a_coded_400()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var client = factory.CreateClient(TestKeys.Admin);
        string[] routes = ["signals", "summary", "trends", "calibration", "intakes", "quarantine"];
        string[] parameters = ["limit", "window_days", "type", "signal_type", "severity", "tenant_id", "dimension", "generate_intakes", "target_auto_intakes_per_window"];
        var value = Gen.Frequency(
            (2, Gen.Int[-10, 1000].Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture))),
            (1, Gen.Long.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture))),
            (2, FuzzInputs.Value(0).Select(v => v?.ToString() ?? "")),
            (1, Gen.OneOf("true", "false", "signal_type", "severity", "high", "bug", "default", "1e3", "0x10", "")));
        var query = Gen.Select(Gen.OneOf(routes), Gen.Select(Gen.OneOf(parameters), value).Array[0, 4]);
        var codes = new HashSet<string>();

        await query.SampleAsync(async (route, pairs) =>
        {
            var url = $"{Base}/{route}?" + string.Join('&', pairs.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
            using var response = await client.GetAsync(url);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                codes.Add(await AssertRefusedWithACodeAsync(response));
            }
        }, iter: 400, threads: 1);

        output.WriteLine($"codes seen: {string.Join(", ", codes.Order())}");
        Assert.True(codes.Count >= 2, "the generator never reached the parameter validation");
    }

    [Fact]
    public async Task Any_damaged_backup_envelope_is_refused_with_a_code_and_changes_nothing()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var original = await File.ReadAllBytesAsync(ReferenceFixtures.PathOf("learning", "backup-envelope.json"));
        await RestoreAsync(admin, original, HttpStatusCode.OK);
        var reference = await DigestAsync();
        int refused = 0, harmless = 0;

        var envelope = JsonNode.Parse(original)!.AsObject();
        var topLevel = envelope.Select(p => p.Key).ToArray();
        // JSON-level damage: a top-level field removed or given any value, one field of one signal or intake
        // changed, or one map entry pointed elsewhere.
        byte[] Damaged(Action<JsonObject> damage)
        {
            var copy = envelope.DeepClone().AsObject();
            damage(copy);
            return Encoding.UTF8.GetBytes(copy.ToJsonString());
        }
        var reshaped = Gen.Frequency(
            (1, Gen.Select(Gen.OneOf(topLevel), FuzzInputs.Value(1), Gen.Bool).Select((name, value, remove) => Damaged(copy =>
            {
                if (remove)
                {
                    copy.Remove(name);
                }
                else
                {
                    copy[name] = value;
                }
            }))),
            (2, Gen.Select(Gen.OneOf("signals", "generated_intakes"), Gen.Int[0, 1000], Gen.Int[0, 30], FuzzInputs.Value(1)).Select((section, index, field, value) => Damaged(copy =>
            {
                var records = copy["state"]![section]!.AsArray();
                var record = records[index % records.Count]!.AsObject();
                record[record.ElementAt(field % record.Count).Key] = value;
            }))),
            (1, Gen.Select(Gen.Int[0, 1000], FuzzInputs.Value(0)).Select((index, value) => Damaged(copy =>
            {
                var map = copy["state"]!["signal_intake_map"]!.AsObject();
                map[map.ElementAt(index % map.Count).Key] = value;
            }))));

        await Gen.Frequency((2, FuzzInputs.Broken(original)), (1, reshaped)).SampleAsync(async body =>
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await admin.PostAsync($"{Base}/restore", content);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                // Accepted only if the damage missed what the checksum covers: the state is the reference's, exactly.
                harmless++;
                Assert.Equal(reference, await DigestAsync());
                return;
            }
            refused++;
            await AssertRefusedWithACodeAsync(response);
            Assert.Equal(reference, await DigestAsync());
        }, iter: 80, threads: 1, print: Show);

        output.WriteLine($"80 damaged envelopes: {refused} refused with a code, {harmless} harmless (state unchanged)");
        Assert.True(refused > 40, $"only {refused} of 80 damaged envelopes were refused");
    }

    private static async Task RestoreAsync(HttpClient admin, byte[] body, HttpStatusCode expected)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        Assert.Equal(expected, (await admin.PostAsync($"{Base}/restore", content)).StatusCode);
    }

    private static async Task<string> AssertRefusedWithACodeAsync(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status is >= 400 and < 500, $"{status}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var code = ProblemCodes.ProblemCode(body);
        Assert.False(string.IsNullOrEmpty(code));
        return code!;
    }

    /// <summary>Every row of the learning state, hashed: equal digests mean nothing changed.</summary>
    private async Task<string> DigestAsync()
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand(
            """
            SELECT concat_ws(' ',
                (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.signal_id)), '') FROM learning_signals t),
                (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.intake_id)), '') FROM generated_intakes t),
                (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.signal_id)), '') FROM signal_intake_map t),
                (SELECT count(*) FROM metrics_snapshots))
            """, connection);
        return (string)(await query.ExecuteScalarAsync())!;
    }

    private static string Show(byte[] body) => body.Length > 300 ? $"{body.Length} bytes: {Encoding.UTF8.GetString(body[..300])}…" : Encoding.UTF8.GetString(body);
}
