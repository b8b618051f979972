using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Routing.Tests;

public sealed class RoutingApiTests : IAsyncLifetime
{
    private readonly LearningStandIn _learning = new();

    public Task InitializeAsync() => _learning.StartAsync();

    public Task DisposeAsync() => _learning.DisposeAsync().AsTask();

    private WebApplicationFactory<Program> Service(params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseTestKeys();
            b.UseSetting("ServiceApiKey", "service-key");
            b.UseSetting("services:learning-service:http:0", _learning.Address);
            foreach (var (key, value) in settings)
            {
                b.UseSetting(key, value);
            }
        });

    private static object HighEffortRequest => new
    {
        default_model = "m",
        max_tokens = 9000,
        effort = "high",
        inputs = new { prompt = "hi" },
    };

    [Fact]
    public async Task Decisions_show_up_in_the_dashboard_summary_and_in_prometheus_text()
    {
        await using var factory = Service(("Routing:CostPer1kTokens", "0.002"));
        var client = factory.CreateClient(TestKeys.Writer);

        for (var i = 0; i < 3; i++)
        {
            (await client.PostAsJsonAsync("/v1/routing/decisions", new { default_model = "m", max_tokens = 1000, inputs = new { prompt = "hi" } })).EnsureSuccessStatusCode();
        }
        (await client.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).EnsureSuccessStatusCode();

        using var summary = JsonDocument.Parse(await factory.CreateClient(TestKeys.Reader).GetStringAsync("/v1/dashboard/metrics"));
        var decisions = summary.RootElement.GetProperty("effort_routing_decisions_total");
        Assert.Equal(3, decisions.GetProperty("effort=low,source=heuristic").GetInt32());
        Assert.Equal(1, decisions.GetProperty("effort=high,source=request").GetInt32());
        Assert.Equal(1, summary.RootElement.GetProperty("effort_routing_high_effort_total").GetInt32());
        var cost = summary.RootElement.GetProperty("effort_routing_estimated_cost_usd");
        Assert.Equal((4, 0.018), (cost.GetProperty("count").GetInt32(), cost.GetProperty("max").GetDouble()));
        Assert.Equal(0.024, cost.GetProperty("window_sum").GetDouble(), 9);

        var prometheus = await factory.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("effort_routing_decisions_total{", prometheus);
        Assert.Contains("effort=\"high\"", prometheus);
        Assert.Contains("effort_routing_high_effort_total", prometheus);
        Assert.Contains("effort_routing_estimated_token_budget_bucket", prometheus);
        Assert.DoesNotContain("_total_total", prometheus);
    }

    private const string PolicyHigh = "effort=high,source=policy";
    private const string RequestLow = "effort=low,source=request";

    /// <summary>A tenant-a policy of high effort and a 0.5 USD flat rate: 1600 tokens cost 0.8, as in the reference's test.</summary>
    private WebApplicationFactory<Program> PolicyService(params (string Key, string Value)[] settings) =>
        Service([("Routing:Policies:Tenant:tenant-a", "high"), ("Routing:CostPer1kTokens", "0.5"), .. settings]);

    private static object PolicyHighRequest => new { default_model = "m", max_tokens = 1600, tenant_id = "tenant-a", inputs = new { prompt = "hi" } };

    [Fact]
    public async Task The_summary_holds_every_key_of_the_references_labelled_and_unlabelled()
    {
        await using var factory = PolicyService();
        var client = factory.CreateClient(TestKeys.Writer);
        (await client.PostAsJsonAsync("/v1/routing/decisions", PolicyHighRequest)).EnsureSuccessStatusCode();
        (await client.PostAsJsonAsync("/v1/routing/decisions", new { default_model = "m", max_tokens = 400, effort = "low", inputs = new { prompt = "hi" } })).EnsureSuccessStatusCode();

        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");

        // The reference's MetricsCollector after these two decisions holds exactly these keys.
        Assert.Equal(
            [
                "effort_routing_decisions_total", "effort_routing_estimated_cost_usd", $"effort_routing_estimated_cost_usd({PolicyHigh})",
                $"effort_routing_estimated_cost_usd({RequestLow})", "effort_routing_estimated_token_budget", $"effort_routing_estimated_token_budget({PolicyHigh})",
                $"effort_routing_estimated_token_budget({RequestLow})", "effort_routing_high_effort_total",
            ],
            summary.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(1, summary.GetProperty("effort_routing_decisions_total").GetProperty(PolicyHigh).GetInt32());
        Assert.Equal(1, summary.GetProperty("effort_routing_decisions_total").GetProperty(RequestLow).GetInt32());
        Assert.Equal(1, summary.GetProperty("effort_routing_high_effort_total").GetInt32());
        AssertStatistics(summary, $"effort_routing_estimated_token_budget({PolicyHigh})", 1, 1600, 1600, 1600, 1600);
        AssertStatistics(summary, $"effort_routing_estimated_token_budget({RequestLow})", 1, 400, 400, 400, 400);
        AssertStatistics(summary, "effort_routing_estimated_token_budget", 2, 2000, 1000, 400, 1600);
        AssertStatistics(summary, $"effort_routing_estimated_cost_usd({PolicyHigh})", 1, 0.8, 0.8, 0.8, 0.8);
        AssertStatistics(summary, $"effort_routing_estimated_cost_usd({RequestLow})", 1, 0.2, 0.2, 0.2, 0.2);
        AssertStatistics(summary, "effort_routing_estimated_cost_usd", 2, 0.8 + 0.2, (0.8 + 0.2) / 2, 0.2, 0.8);
    }

    private static void AssertStatistics(JsonElement summary, string key, int count, double sum, double avg, double min, double max)
    {
        var entry = summary.GetProperty(key);
        Assert.Equal((count, sum, avg, min, max), (entry.GetProperty("count").GetInt32(), entry.GetProperty("sum").GetDouble(),
            entry.GetProperty("avg").GetDouble(), entry.GetProperty("min").GetDouble(), entry.GetProperty("max").GetDouble()));
        Assert.Equal(count, entry.GetProperty("window_count").GetInt32());
    }

    [Fact]
    public async Task Before_any_decision_the_summary_is_the_references_default_body()
    {
        await using var factory = Service();
        var body = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");

        // The reference's dashboard _DEFAULT_METRICS, as its endpoint answers it.
        using var reference = JsonDocument.Parse("""
            {"active_workflows": 0, "error_count": 0, "token_usage": 0,
             "request_latency": {"count": 0, "sum": 0.0, "avg": 0.0, "min": 0.0, "max": 0.0},
             "effort_routing_high_effort_total": 0}
            """);
        Assert.True(JsonElement.DeepEquals(reference.RootElement, body), body.ToString());
        Assert.Empty((await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/alerts")).EnumerateArray()); // the default body is no figure
    }

    [Fact]
    public async Task An_alert_rule_on_a_labelled_key_fires() // the reference's test_dashboard_alerts_endpoint_returns_triggered_effort_alerts
    {
        await using var factory = PolicyService(
            ("Routing:Alerts:Rules:0:Name", "test_high_cost_effort"),
            ("Routing:Alerts:Rules:0:Metric", $"effort_routing_estimated_cost_usd({PolicyHigh})"),
            ("Routing:Alerts:Rules:0:Threshold", "0.5"),
            ("Routing:Alerts:Rules:0:Comparator", "gt"),
            ("Routing:Alerts:Rules:0:Statistic", "max"));
        (await factory.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions", PolicyHighRequest)).EnsureSuccessStatusCode();

        var alerts = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/alerts");
        var alert = Assert.Single(alerts.EnumerateArray());
        Assert.Equal("test_high_cost_effort", alert.GetProperty("rule_name").GetString());
        Assert.Equal((0.8, 0.5), (alert.GetProperty("current_value").GetDouble(), alert.GetProperty("threshold").GetDouble()));
    }

    [Fact]
    public async Task Prometheus_histograms_carry_effort_and_source()
    {
        await using var factory = PolicyService();
        (await factory.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions", PolicyHighRequest)).EnsureSuccessStatusCode();

        var metrics = await factory.CreateClient().GetStringAsync("/metrics");
        foreach (var (series, value) in new[] { ("effort_routing_estimated_cost_usd_count", 1), ("effort_routing_estimated_cost_usd_sum", 0.8),
                     ("effort_routing_estimated_token_budget_count", 1), ("effort_routing_estimated_token_budget_sum", 1600) })
        {
            Assert.Equal((double?)value, PrometheusText.Sample(metrics, series, ("effort", "high"), ("source", "policy")));
        }
    }

    [Fact]
    public async Task An_alert_posts_one_learning_signal_when_it_starts_firing_not_on_every_decision()
    {
        await using var factory = Service(("Routing:Alerts:HighEffortCountThreshold", "2"));
        var client = factory.CreateClient(TestKeys.Writer);

        for (var i = 0; i < 6; i++)
        {
            (await client.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).EnsureSuccessStatusCode();
        }

        var alerts = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/alerts");
        var names = alerts.EnumerateArray().Select(a => a.GetProperty("rule_name").GetString()).Order().ToList();
        Assert.Equal(["high_effort_routing_volume", "high_effort_token_budget_spike"], names);
        var volume = alerts.EnumerateArray().Single(a => a.GetProperty("rule_name").GetString() == "high_effort_routing_volume");
        Assert.Equal((6.0, 2.0), (volume.GetProperty("current_value").GetDouble(), volume.GetProperty("threshold").GetDouble()));

        var signals = await _learning.WaitForAsync(2);
        Assert.All(signals, s =>
        {
            Assert.Equal("Bearer service-key", s.Authorization);
            Assert.Equal(("performance", "high"), (s.Body.GetProperty("signal_type").GetString(), s.Body.GetProperty("severity").GetString()));
        });
        Assert.Contains(signals, s => s.Body.GetProperty("summary").GetString()!.Contains("high_effort_routing_volume"));
        await Task.Delay(300); // give a wrongly repeated post the time to arrive
        Assert.Equal(2, _learning.Received.Count);
    }

    [Fact]
    public async Task A_down_learning_service_is_counted_and_never_blocks_decisions()
    {
        await _learning.DisposeAsync(); // nobody listens there any more
        await using var factory = Service(("Routing:Alerts:HighEffortCountThreshold", "0"));
        var client = factory.CreateClient(TestKeys.Writer);

        var started = DateTime.UtcNow;
        (await client.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).EnsureSuccessStatusCode();
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "the decision waited on the learning service");

        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement failures;
        do
        {
            await Task.Delay(100);
            var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
            summary.TryGetProperty("effort_routing_signal_failures_total", out failures);
        }
        while ((failures.ValueKind == JsonValueKind.Undefined || failures.GetInt32() < 2) && DateTime.UtcNow < deadline);
        Assert.Equal(2, failures.GetInt32()); // volume and token budget both started firing
    }

    [Fact]
    public async Task Export_writes_jsonl_and_fail_closed_refuses_when_it_cannot()
    {
        var dir = Directory.CreateTempSubdirectory("agent33-export-").FullName;
        try
        {
            var path = Path.Combine(dir, "decisions.jsonl");
            await using (var factory = Service(("Routing:Export:Path", path)))
            {
                var client = factory.CreateClient(TestKeys.Writer);
                (await client.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).EnsureSuccessStatusCode();
                (await client.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).EnsureSuccessStatusCode();
            }
            var lines = await File.ReadAllLinesAsync(path);
            Assert.Equal(2, lines.Length);
            Assert.Equal("high", JsonDocument.Parse(lines[0]).RootElement.GetProperty("routing").GetProperty("effort").GetString());

            // A directory where the file should be: every write fails.
            var blocked = Path.Combine(dir, "blocked");
            Directory.CreateDirectory(blocked);
            await using (var open = Service(("Routing:Export:Path", blocked)))
            {
                Assert.Equal(HttpStatusCode.OK, (await open.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).StatusCode);
                var summary = await open.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
                Assert.Equal(1, summary.GetProperty("effort_routing_export_failures_total").GetInt32());
            }
            await using (var closed = Service(("Routing:Export:Path", blocked), ("Routing:Export:FailClosed", "true")))
            {
                var refused = await closed.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal("export_failed", await refused.ProblemCodeAsync());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The keys of the reference runtime's routing metadata, which its exporter writes under "routing".</summary>
    private static readonly string[] ReferenceRoutingKeys =
    [
        "invocation_id", "invocation_mode", "session_id", "agent_name", "requested_model", "default_model", "effort", "effort_source",
        "token_multiplier", "estimated_token_budget", "estimated_cost", "estimated_cost_status", "estimated_cost_source",
        "estimated_cost_source_url", "estimated_cost_fetched_at", "tenant_id", "domain", "policy_key", "heuristic_confidence",
        "heuristic_score", "heuristic_low_threshold", "heuristic_high_threshold", "heuristic_reasons", "selected_model",
        "routed_max_tokens", "input_field_count", "input_char_count", "requested_max_iterations",
    ];

    [Fact]
    public async Task Export_lines_have_the_reference_exporters_shape()
    {
        var dir = Directory.CreateTempSubdirectory("agent33-export-").FullName;
        try
        {
            var path = Path.Combine(dir, "decisions.jsonl");
            await using (var factory = PolicyService(("Routing:Export:Path", path)))
            {
                (await factory.CreateClient(TestKeys.Writer).PostAsJsonAsync("/v1/routing/decisions", new
                {
                    default_model = "m", max_tokens = 1600, tenant_id = "tenant-a", provider = "acme-llm", max_iterations = 7,
                    inputs = new Dictionary<string, object> { ["prompt"] = "héllo 😀", ["files"] = new[] { "a.py" }, ["n"] = 1.50 },
                })).EnsureSuccessStatusCode();
            }

            using var line = JsonDocument.Parse(Assert.Single(await File.ReadAllLinesAsync(path)));
            Assert.Equal(["routing", "timestamp"], line.RootElement.EnumerateObject().Select(p => p.Name).Order());
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$", line.RootElement.GetProperty("timestamp").GetString()); // Python's isoformat()
            var routing = line.RootElement.GetProperty("routing");
            Assert.All(ReferenceRoutingKeys, key => Assert.True(routing.TryGetProperty(key, out _), $"routing lacks {key}"));

            Assert.Equal(("high", "policy", "tenant-a", "tenant-a"), (routing.GetProperty("effort").GetString(), routing.GetProperty("effort_source").GetString(),
                routing.GetProperty("tenant_id").GetString(), routing.GetProperty("policy_key").GetString()));
            Assert.Equal(("m", 1600, 1600, 0.8), (routing.GetProperty("selected_model").GetString(), routing.GetProperty("routed_max_tokens").GetInt32(),
                routing.GetProperty("estimated_token_budget").GetInt32(), routing.GetProperty("estimated_cost").GetDouble()));
            // len(inputs) and len(json.dumps(inputs, sort_keys=True, ensure_ascii=False)) as Python counts them:
            // '{"files": ["a.py"], "n": 1.5, "prompt": "héllo 😀"}' is 50 code points.
            Assert.Equal((3, 50, 7), (routing.GetProperty("input_field_count").GetInt32(), routing.GetProperty("input_char_count").GetInt32(),
                routing.GetProperty("requested_max_iterations").GetInt32()));
            Assert.Equal(("m", JsonValueKind.Null, JsonValueKind.Null), (routing.GetProperty("default_model").GetString(),
                routing.GetProperty("requested_model").ValueKind, routing.GetProperty("agent_name").ValueKind));
            Assert.Equal("acme-llm", routing.GetProperty("provider").GetString()); // ours, beside the reference's keys
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"max_tokens": 10}""", "invalid_request")]
    [InlineData("""{"default_model": "m"}""", "invalid_request")]
    [InlineData("""{"default_model": "m", "max_tokens": 0}""", "invalid_request")]
    [InlineData("""{"default_model": "m", "max_tokens": 10, "inputs": [1, 2]}""", "invalid_request")]
    [InlineData("""{"default_model": "m", "max_tokens": 10, "max_iterations": -1}""", "invalid_request")]
    [InlineData("""{"default_model": "m", "max_tokens": "ten"}""", "invalid_json")]
    [InlineData("""{"default_model": "m", "max_tokens": 10""", "invalid_json")]
    [InlineData("""{"default_model": "m", "max_tokens": 10, "inputs": {"prompt": "half an emoji \ud83d"}}""", "invalid_json")] // read later: checked at the edge
    [InlineData("""{"default_model": "m", "max_tokens": 10, "inputs": {"\udc00": "x"}}""", "invalid_json")]
    [InlineData("""{"default_model": "m\ud83d", "max_tokens": 10}""", "invalid_json")]
    public async Task Bad_requests_get_400_with_a_code(string body, string code)
    {
        await using var factory = Service();
        var response = await factory.CreateClient(TestKeys.Writer).PostAsync("/v1/routing/decisions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await response.ProblemCodeAsync());
    }

    [Fact]
    public async Task A_read_key_may_classify_but_not_decide()
    {
        await using var factory = Service();
        var reader = factory.CreateClient(TestKeys.Reader);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).StatusCode);
        var verdict = await (await reader.PostAsJsonAsync("/v1/routing/classify", new { inputs = new { prompt = "hi" } })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("simple_message_fast_path", verdict.GetProperty("reasons")[0].GetString());
    }

    [Theory]
    [InlineData(TestKeys.Writer, "default")]      // tenant-a asking for another tenant
    [InlineData(TestKeys.Writer, "tenant-b")]
    [InlineData(TestKeys.OtherWriter, " tenant-a ")] // compared as the router reads it: trimmed
    public async Task A_key_may_not_decide_for_another_tenant(string key, string tenant)
    {
        await using var factory = Service(("Routing:Policies:Tenant:default", "high"));
        var denied = await factory.CreateClient(key).PostAsJsonAsync("/v1/routing/decisions",
            new { default_model = "m", max_tokens = 100, tenant_id = tenant, inputs = new { prompt = "hi" } });

        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("cross_tenant_denied", await denied.ProblemCodeAsync());
        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        Assert.False(summary.TryGetProperty("effort_routing_decisions_total", out _), "a refused decision was counted");
    }

    [Theory]
    [InlineData(TestKeys.Writer, "tenant-a", "tenant-a")]
    [InlineData(TestKeys.Writer, " tenant-a ", "tenant-a")]
    [InlineData(TestKeys.Writer, null, null)]
    [InlineData(TestKeys.Writer, "", null)]
    [InlineData(TestKeys.Admin, "tenant-b", "tenant-b")]
    [InlineData(TestKeys.Service, "tenant-b", "tenant-b")] // the gateway acting for its caller
    [InlineData(TestKeys.Service, "gold", "gold")]
    public async Task Own_tenant_or_none_and_admin_or_service_keys_for_any_get_a_decision(string key, string? tenant, string? decided)
    {
        await using var factory = Service(("Routing:Policies:Tenant:gold", "high"));
        // As the gateway asks for its caller (a typed request and answer), and as any other key does.
        var response = await factory.CreateClient(key).PostAsJsonAsync(DecisionRequest.Path,
            new DecisionRequest(null, "m", 100, null, tenant, null, JsonSerializer.SerializeToElement(new { prompt = "hi" }), null, null, null));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var decision = (await response.Content.ReadFromJsonAsync<EffortDecision>())!;
        Assert.Equal(decided, decision.TenantId);
        Assert.Equal(decided == "gold" ? "policy" : "heuristic", decision.EffortSource);
    }

    [Theory]
    [InlineData("http://localhost:3000", "http://localhost:3000")]
    [InlineData("http://elsewhere.example", null)]
    public async Task A_browser_preflight_for_a_decision_needs_no_key_and_only_configured_origins_are_allowed(string origin, string? allowed)
    {
        await using var factory = Service(("Cors:AllowedOrigins:0", "http://localhost:3000"));
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/routing/decisions")
        {
            Headers = { { "Origin", origin }, { "Access-Control-Request-Method", "POST" }, { "Access-Control-Request-Headers", "authorization,content-type" } },
        };

        using var response = await factory.CreateClient().SendAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(allowed, response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await factory.CreateClient().PostAsJsonAsync("/v1/routing/decisions", HighEffortRequest)).StatusCode);
    }

    [Theory]
    [InlineData("Routing:Heuristic:HighScoreThreshold", "1", "Routing:Heuristic:HighScoreThreshold")]
    [InlineData("Routing:Heuristic:LargePayloadChars", "500", "Routing:Heuristic:LargePayloadChars")]
    [InlineData("Routing:CostPer1kTokens", "-1", "Routing:CostPer1kTokens")]
    [InlineData("Routing:Policies:Tenant:acme", "huge", "Routing:Policies:Tenant:acme")]
    [InlineData("Routing:Profile", "nope", "Routing:Profile")]
    [InlineData("Routing:DefaultEffort", "max", "Routing:DefaultEffort")]
    public void Bad_settings_stop_the_service_naming_the_setting(string key, string value, string named)
    {
        using var factory = Service((key, value));
        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains(named, error.ToString());
    }

    /// <summary>A loopback server standing in for the learning service: records what it is sent.</summary>
    private sealed class LearningStandIn : IAsyncDisposable
    {
        private WebApplication? _app;

        public ConcurrentQueue<(string? Authorization, JsonElement Body)> Received { get; } = new();

        public string Address { get; private set; } = "http://127.0.0.1:9";

        public async Task StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _app = builder.Build();
            _app.MapPost("/v1/improvements/learning/signals", async (HttpContext context) =>
            {
                var body = await JsonSerializer.DeserializeAsync<JsonElement>(context.Request.Body);
                Received.Enqueue((context.Request.Headers.Authorization.ToString(), body));
                return Results.StatusCode(201);
            });
            await _app.StartAsync();
            Address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        }

        public async Task<List<(string? Authorization, JsonElement Body)>> WaitForAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Received.Count < count && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            return [.. Received];
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.DisposeAsync();
                _app = null;
            }
        }
    }
}
