using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Agent33.Deploy.Tests;

/// <summary>
/// The three services as processes on loopback, with a Postgres of their own (stopped on purpose later), an
/// OpenAI-compatible provider, an upstream that answers 503 slowly and a port nobody listens on — everything the
/// traffic of <see cref="RealPrometheusTests"/> needs to make each rule fire.
/// </summary>
public sealed class RunningSystem : IAsyncDisposable
{
    private const string Learning = "/v1/improvements/learning";
    private PostgresServer.OwnPostgres _postgres = null!;
    private WebApplication _upstreams = null!;
    private readonly List<ServiceProcess> _services = [];
    private string _backupFile = "";

    public ServiceProcess Routing { get; private set; } = null!;
    public ServiceProcess LearningService { get; private set; } = null!;
    public ServiceProcess Gateway { get; private set; } = null!;

    /// <summary>Each service's /metrics right after it started, before any traffic.</summary>
    public Dictionary<string, string> FreshScrapes { get; } = [];

    /// <summary>Prometheus jobs: name → host:port.</summary>
    public IReadOnlyDictionary<string, string> ScrapeTargets => new Dictionary<string, string>
    {
        ["routing"] = Routing.BaseAddress.Authority,
        ["learning"] = LearningService.BaseAddress.Authority,
        ["gateway"] = Gateway.BaseAddress.Authority,
    };

    public static async Task<RunningSystem> StartAsync()
    {
        var system = new RunningSystem();
        try
        {
            await system.StartAllAsync();
            return system;
        }
        catch
        {
            await system.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync()
    {
        var postgres = PostgresServer.StartOwnAsync();
        var upstreams = StartUpstreamsAsync();
        _postgres = await postgres;
        var upstream = await upstreams;

        // A file where the backup directory should be: every scheduled backup fails (learning_backup_failed), and none is
        // ever stored, so the newest backup's age counts from the start (learning_backup_stale).
        _backupFile = Path.GetTempFileName();
        var learning = ServiceProcess.StartAsync("Agent33.Learning", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["ConnectionStrings:learning"] = _postgres.ConnectionString,
            ["RateLimiting:WritesPerSecond"] = "0",
            ["Learning:Backups:Schedule"] = "00:01:00",
            ["Learning:Backups:Store"] = "directory",
            ["Learning:Backups:Directory"] = _backupFile,
        });
        var routing = ServiceProcess.StartAsync("Agent33.Routing", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:learning-service:http:0"] = "http://127.0.0.1:9", // alert signals are not this test's subject
            ["Routing:Models:Low"] = "gpt-4o",
            ["Routing:Models:Medium"] = "gpt-4o",
            ["Routing:Models:High"] = "gpt-4o",
        });
        LearningService = await learning;
        Routing = await routing;
        _services.AddRange([LearningService, Routing]);

        Gateway = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["ServiceApiKey"] = TestKeys.Service,
            ["services:routing:http:0"] = Routing.BaseAddress.ToString().TrimEnd('/'),
            ["services:learning-service:http:0"] = LearningService.BaseAddress.ToString().TrimEnd('/'),
            ["Llm:DefaultModel"] = "gpt-4o",
            ["Llm:Budgets:tenant-b:DailyTokens"] = "1",
            ["Connectors:0:Id"] = "llm:main", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{upstream}/v1",
            ["Connectors:0:Models:0"] = "gpt-4o*",
            ["Connectors:1:Id"] = "tool:slow", ["Connectors:1:Kind"] = "http", ["Connectors:1:Destination"] = $"{upstream}/slow",
            ["Connectors:1:RetryAttempts"] = "0", ["Connectors:1:Circuit:FailureThreshold"] = "1000",
            ["Connectors:2:Id"] = "tool:down", ["Connectors:2:Kind"] = "http", ["Connectors:2:Destination"] = $"http://127.0.0.1:{ClosedPort()}",
            ["Connectors:2:RetryAttempts"] = "0", ["Connectors:2:Circuit:FailureThreshold"] = "1", ["Connectors:2:Circuit:RecoveryTimeoutSeconds"] = "300",
            ["Connectors:3:Id"] = "tool:blocked", ["Connectors:3:Kind"] = "http", ["Connectors:3:Destination"] = upstream,
            ["Governance:BlockedConnectors:0"] = "tool:blocked",
        });
        _services.Add(Gateway);

        foreach (var (name, service) in new[] { ("routing", Routing), ("learning", LearningService), ("gateway", Gateway) })
        {
            using var client = service.CreateClient(key: null);
            FreshScrapes[name] = await client.GetStringAsync("/metrics");
        }
    }

    /// <summary>
    /// Traffic that crosses every rule's threshold (see <see cref="RealPrometheusTests.Thresholds"/>).
    /// <paramref name="untilScraped"/> waits until Prometheus holds a series: a rate needs two samples of it, and a
    /// histogram series is born with its first observation, so a burst that falls between two scrapes of a series
    /// that did not exist yet has no rate (the p99 rule then never sees it; the test flaked on a loaded machine).
    /// </summary>
    public async Task SendTrafficThatTriggersEveryRuleAsync(Func<string, Task> untilScraped)
    {
        using var routing = Routing.CreateClient(TestKeys.Writer);
        using var gatewayA = Gateway.CreateClient(TestKeys.Writer);      // tenant-a: no budget
        using var gatewayB = Gateway.CreateClient(TestKeys.OtherWriter); // tenant-b: a daily budget of one token
        using var admin = LearningService.CreateClient(TestKeys.Admin);

        // Routing: three high-effort decisions (volume > 2), with no provider named and no flat rate, as the gateway asks:
        // gpt-4o's catalogue price for a million tokens is above 5 USD and the budget above 8000 tokens (both spikes).
        for (var i = 0; i < 3; i++)
        {
            (await routing.PostAsJsonAsync("/v1/routing/decisions",
                new { requested_model = "gpt-4o", default_model = "gpt-4o", max_tokens = 1_000_000, effort = "high", inputs = new { prompt = "refactor the service" } })).EnsureSuccessStatusCode();
        }

        // Gateway LLM calls: routed (auto) and explicit, one streamed; tenant-b's second call is refused for its budget.
        foreach (var (model, stream) in new[] { ("auto", false), ("gpt-4o", false), ("auto", true) })
        {
            using var response = await gatewayA.PostAsync("/v1/chat/completions", Chat(model, stream));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }
        (await gatewayB.PostAsync("/v1/chat/completions", Chat("gpt-4o", stream: false))).EnsureSuccessStatusCode();
        await Eventually.WaitUntilAsync(async () =>
            (await gatewayB.PostAsync("/v1/chat/completions", Chat("gpt-4o", stream: false))).StatusCode == HttpStatusCode.TooManyRequests,
            "tenant-b's daily token budget to refuse a call", seconds: 10);

        // Connectors: slow 503s (error ratio, p99 latency), one failure that opens tool:down's circuit, governance denials.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.BadGateway, (await gatewayA.GetAsync("/connectors/tool:slow/x")).StatusCode);
            if (i == 0)
            {
                await untilScraped("connector_call_duration_seconds_count{connector=\"tool:slow\"}");
            }
        }
        Assert.Equal(HttpStatusCode.BadGateway, (await gatewayA.GetAsync("/connectors/tool:down/x")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gatewayA.GetAsync("/connectors/tool:down/x")).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await gatewayA.GetAsync("/connectors/tool:blocked/x")).StatusCode);
        }

        // Learning: a write and reads, a corrupt legacy payload (quarantined), then Postgres stops and requests get 503s.
        (await admin.PostAsync($"{Learning}/signals", Json("""{"summary": "A signal for the dashboards", "signal_type": "bug"}"""))).EnsureSuccessStatusCode();
        (await admin.GetAsync($"{Learning}/signals")).EnsureSuccessStatusCode();
        using (var corrupt = await admin.PostAsync($"{Learning}/migrations/import?force=true&on_corruption=quarantine", Json("""{"signals": [ {"signal_id": """)))
        {
            Assert.Contains("The payload was quarantined", await corrupt.Content.ReadAsStringAsync()); // kept, audited and counted
        }
        await _postgres.StopAsync();
        for (var i = 0; i < 4; i++)
        {
            using var unavailable = await admin.GetAsync($"{Learning}/signals");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        }
    }

    private static StringContent Chat(string model, bool stream) =>
        Json($$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hello there"}]}""");

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    /// <summary>An OpenAI-compatible chat endpoint (<c>/v1/chat/completions</c>, with usage, streamed or not) and <c>/slow</c>: 503 after 200 ms.</summary>
    private async Task<string> StartUpstreamsAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _upstreams = builder.Build();
        _upstreams.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            var body = await System.Text.Json.JsonDocument.ParseAsync(context.Request.Body);
            var model = body.RootElement.GetProperty("model").GetString();
            const string usage = """{"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}""";
            if (body.RootElement.TryGetProperty("stream", out var s) && s.GetBoolean())
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync($$$"""data: {"id":"c1","object":"chat.completion.chunk","model":"{{{model}}}","choices":[{"index":0,"delta":{"content":"hi"}}]}""" + "\n\n");
                await context.Response.WriteAsync($$$"""data: {"id":"c1","object":"chat.completion.chunk","model":"{{{model}}}","choices":[],"usage":{{{usage}}}}""" + "\n\n");
                await context.Response.WriteAsync("data: [DONE]\n\n");
                return;
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$$"""{"id":"c1","object":"chat.completion","model":"{{{model}}}","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{{{usage}}}}""");
        });
        _upstreams.Map("/slow/{**rest}", async (HttpContext context) =>
        {
            await Task.Delay(200);
            context.Response.StatusCode = 503;
        });
        _upstreams.MapFallback((HttpContext context) => context.Response.StatusCode = 200);
        await _upstreams.StartAsync();
        return _upstreams.Urls.First();
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed: connections are refused
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in _services)
        {
            service.Dispose();
        }
        if (_upstreams is not null)
        {
            await _upstreams.DisposeAsync();
        }
        _postgres?.Dispose();
        if (_backupFile.Length > 0)
        {
            File.Delete(_backupFile);
        }
    }
}
