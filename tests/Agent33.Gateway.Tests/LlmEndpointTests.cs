using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The gateway as an OpenAI base URL, driven by the official OpenAI .NET SDK and Microsoft.Extensions.AI, against
/// OpenAI-compatible providers on loopback and the real routing service as a process.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class LlmEndpointTests : IAsyncLifetime
{
    private LlmProvider _provider = null!;
    private ServiceProcess _routing = null!;
    private Upstream _learning = null!; // stands in for the learning service, keeping the signals posted to it

    public async Task InitializeAsync()
    {
        _provider = await LlmProvider.StartAsync();
        _learning = await Upstream.StartAsync();
        _routing = await ServiceProcess.StartAsync("Agent33.Routing", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:learning-service:http:0"] = "http://127.0.0.1:9",
            ["Routing:Models:Low"] = "small-model",
            ["Routing:Models:Medium"] = "mid-model",
            ["Routing:Models:High"] = "big-model",
        });
    }

    public async Task DisposeAsync()
    {
        _routing.Dispose();
        await _provider.DisposeAsync();
        await _learning.DisposeAsync();
    }

    private GatewayFactory Gateway(string? routing = null, params (string Key, string Value)[] more) => new([
        ("ServiceApiKey", TestKeys.Service),
        ("services:routing:http:0", routing ?? _routing.BaseAddress.ToString().TrimEnd('/')),
        ("Llm:DefaultModel", "fallback-model"),
        ("services:learning-service:http:0", _learning.Address),
        .. GatewayFactory.Connector(0, "llm:down", $"{_provider.Address}/down/v1", kind: "llm", more: [("Models:0", "flaky-*"), ("Circuit:FailureThreshold", "1")]),
        .. GatewayFactory.Connector(1, "llm:main", $"{_provider.Address}/ok/v1", kind: "llm",
            more: [("Models:0", "*-model"), ("Models:1", "flaky-*"), ("Models:2", "gpt-4o*"), ("ApiKey", "provider-secret")]),
        .. more,
    ]);

    private static ChatClient Chat(GatewayFactory gateway, string model)
    {
        var http = gateway.CreateClient();
        return new ChatClient(model, new ApiKeyCredential(TestKeys.Writer), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
        });
    }

    [Fact]
    public async Task Auto_routing_picks_the_model_of_the_effort_and_the_provider_gets_its_own_key()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        foreach (var (effort, model) in new[] { ("high", "big-model"), ("low", "small-model") })
        {
            using var body = new StringContent($$"""{"model":"auto","reasoning_effort":"{{effort}}","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
            var response = await client.PostAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal((effort, "request", model, "llm:main"), (response.Headers.GetValues("X-Agent33-Effort").Single(),
                response.Headers.GetValues("X-Agent33-Effort-Source").Single(), response.Headers.GetValues("X-Agent33-Model").Single(),
                response.Headers.GetValues("X-Connector-Id").Single()));
            var (_, sent, authorization) = _provider.Requests.Last();
            Assert.Equal(model, sent["model"]!.GetValue<string>());
            Assert.Equal("Bearer provider-secret", authorization); // never the caller's key
        }
    }

    [Fact]
    public async Task Auto_is_effort_routed_for_an_anthropic_messages_call_too()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        using var body = new StringContent("""{"model":"auto","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        var response = await client.PostAsync("/v1/messages", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var model = response.Headers.GetValues("X-Agent33-Model").Single();
        Assert.Contains(model, (string[])["small-model", "mid-model", "big-model"]);
        Assert.Equal("heuristic", response.Headers.GetValues("X-Agent33-Effort-Source").Single());
        Assert.Equal(model, _provider.Requests.Last().Body["model"]!.GetValue<string>());
        Assert.Equal("message", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
    }

    [Fact]
    public async Task The_official_sdk_gets_a_completion_with_usage_and_an_explicit_model_is_honoured()
    {
        await using var gateway = Gateway();
        ChatCompletion completion = await Chat(gateway, "mid-model").CompleteChatAsync([new UserChatMessage("hello")]);
        Assert.Equal("ok says hello", completion.Content[0].Text);
        Assert.Equal((11, 7), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount));
        Assert.Equal("mid-model", _provider.Requests.Last().Body["model"]!.GetValue<string>());

        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(11, Sample(metrics, "llm_tokens_total", ("model", "*-model"), ("kind", "prompt")));
        Assert.Equal(1, Sample(metrics, "llm_requests_total", ("model", "*-model"), ("connector", "llm:main"), ("outcome", "success")));
    }

    [Fact]
    public async Task A_stream_reaches_the_sdk_chunk_by_chunk_before_the_provider_sends_its_last()
    {
        await using var gateway = Gateway();
        var parts = new List<(string Text, long At)>();
        await foreach (var update in Chat(gateway, "auto").CompleteChatStreamingAsync([new UserChatMessage("tell me")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                parts.Add((part.Text, Stopwatch.GetTimestamp()));
            }
        }
        Assert.Equal("part0 part1 part2 part3 part4 ", string.Concat(parts.Select(p => p.Text)));
        Assert.True(parts[0].At < Interlocked.Read(ref _provider.LastChunkAt), "the first chunk arrived only after the provider's last");
        Assert.Equal(true, _provider.Requests.Last().Body["stream_options"]?["include_usage"]?.GetValue<bool>()); // asked upstream for usage
    }

    [Fact]
    public async Task A_stream_whose_caller_did_not_ask_for_usage_gets_no_usage_chunk_but_usage_is_counted()
    {
        await using var gateway = Gateway();
        using var body = new StringContent("""{"model":"mid-model","stream":true,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        var response = await gateway.CreateClient(TestKeys.Writer).PostAsync("/v1/chat/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("part4", text);
        Assert.Contains("[DONE]", text);
        Assert.DoesNotContain("\"usage\"", text);
        Assert.Equal(5, Sample(await ScrapeAsync(gateway), "llm_tokens_total", ("model", "*-model"), ("kind", "completion")));
    }

    [Fact]
    public async Task A_failing_provider_falls_back_to_the_next_connector_serving_the_model_and_an_open_circuit_is_skipped()
    {
        await using var gateway = Gateway();
        for (var i = 0; i < 2; i++) // the first call fails over on a 500 (and opens llm:down's circuit); the second on circuit_open
        {
            using var body = new StringContent("""{"model":"flaky-1","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
            var response = await gateway.CreateClient(TestKeys.Writer).PostAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("llm:main", response.Headers.GetValues("X-Connector-Id").Single());
        }
        Assert.Single(_provider.Requests, r => r.Provider == "down");
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(2, Sample(metrics, "llm_fallbacks_total", ("from", "llm:down"), ("to", "llm:main")));
        Assert.Equal(1, Sample(metrics, "connector_calls_total", ("connector", "llm:down"), ("outcome", "circuit_open")));
    }

    [Fact]
    public async Task An_unserved_model_is_a_404_the_sdk_reports_with_its_code()
    {
        await using var gateway = Gateway();
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat(gateway, "no-such").CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(404, error.Status);
        var problem = error.GetRawResponse()!.Content.ToObjectFromJson<JsonElement>();
        Assert.Equal("model_not_served", problem.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task With_the_routing_service_down_the_default_model_serves_and_the_failure_is_counted()
    {
        await using var gateway = Gateway(routing: "http://127.0.0.1:9");
        var clock = Stopwatch.StartNew();
        ChatCompletion completion = await Chat(gateway, "auto").CompleteChatAsync([new UserChatMessage("hello")]);
        Assert.Equal("ok says hello", completion.Content[0].Text);
        Assert.Equal("fallback-model", _provider.Requests.Last().Body["model"]!.GetValue<string>());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}");
        Assert.Equal(1, Sample(await ScrapeAsync(gateway), "llm_routing_failures_total"));
    }

    /// <summary>
    /// Found under load: with routing failing, each completion made two failing calls to it (about ten exceptions each),
    /// and the gateway's completions per second fell thirtyfold. A breaker now stops calling a routing service that keeps
    /// failing; completions still get the default model at once.
    /// </summary>
    [Fact]
    public async Task A_routing_service_that_keeps_failing_is_left_alone_for_a_while_and_completions_go_on()
    {
        var routingCalls = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var failingRouting = builder.Build();
        failingRouting.MapPost("/v1/routing/{*rest}", () =>
        {
            Interlocked.Increment(ref routingCalls);
            return Results.StatusCode(503);
        });
        await failingRouting.StartAsync();
        await using var gateway = Gateway(routing: failingRouting.Urls.Single());

        for (var i = 0; i < 40; i++)
        {
            ChatCompletion completion = await Chat(gateway, "auto").CompleteChatAsync([new UserChatMessage("hello")]);
            Assert.Equal("ok says hello", completion.Content[0].Text);
        }

        // 40 completions ask for 40 decisions and 40 prices; the breaker opens once 10 calls have mostly failed.
        Assert.InRange(routingCalls, 10, 20);
        Assert.Equal(40, Sample(await ScrapeAsync(gateway), "llm_routing_failures_total"));
    }

    /// <summary>An explicit model's decision is recorded with routing after the answer, so it never delays the first token.</summary>
    [Fact]
    public async Task An_explicit_models_decision_is_recorded_with_routing_once_the_answer_is_complete()
    {
        var decisions = new System.Collections.Concurrent.ConcurrentQueue<(System.Text.Json.Nodes.JsonNode Body, long At)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var recordingRouting = builder.Build();
        recordingRouting.MapPost("/v1/routing/decisions", async (HttpRequest request) =>
        {
            decisions.Enqueue((System.Text.Json.Nodes.JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())!, Stopwatch.GetTimestamp()));
            return Results.StatusCode(503);
        });
        await recordingRouting.StartAsync();
        await using var gateway = Gateway(routing: recordingRouting.Urls.Single());

        var parts = 0;
        await foreach (var update in Chat(gateway, "mid-model").CompleteChatStreamingAsync([new UserChatMessage("tell me")]))
        {
            parts += update.ContentUpdate.Count;
        }
        Assert.Equal(5, parts);
        var waited = Stopwatch.StartNew();
        while (decisions.IsEmpty && waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }
        var (body, at) = Assert.Single(decisions);
        Assert.Equal("mid-model", body["requested_model"]!.GetValue<string>());
        Assert.Equal("tell me", body["inputs"]!["messages"]![0]!["content"]!.GetValue<string>());
        Assert.True(at > Interlocked.Read(ref _provider.LastChunkAt), "the decision was recorded before the provider's last chunk");
    }

    [Fact]
    public async Task Microsoft_extensions_ai_chat_client_works_through_the_gateway()
    {
        await using var gateway = Gateway();
        IChatClient chat = Chat(gateway, "auto").AsIChatClient();
        var response = await chat.GetResponseAsync("hello there");
        Assert.Equal("ok says hello", response.Text);
    }

    [Fact]
    public async Task Models_lists_what_the_connectors_serve_and_auto()
    {
        await using var gateway = Gateway();
        var list = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/models");
        Assert.Equal("list", list.GetProperty("object").GetString());
        Assert.Equal(["auto", "flaky-*", "*-model", "gpt-4o*"], list.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());
    }

    private static async Task<HttpResponseMessage> AskAsync(HttpClient client) =>
        await client.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"mid-model","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));

    [Fact]
    public async Task A_tenant_over_its_daily_budget_is_refused_until_the_next_utc_midnight_and_one_signal_says_so()
    {
        await using var gateway = Gateway(more: [("Llm:Budgets:tenant-a:DailyTokens", "30")]);
        gateway.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 25, 18, 0, 0, TimeSpan.Zero));
        var client = gateway.CreateClient(TestKeys.Writer);
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(client)).StatusCode); // 18 tokens
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(client)).StatusCode); // 36: over from now on
        for (var i = 0; i < 2; i++)
        {
            var refused = await AskAsync(client);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromHours(6), refused.Headers.RetryAfter!.Delta);
            var error = await refused.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("budget_exceeded", error.GetProperty("error").GetProperty("code").GetString());
        }
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(gateway.CreateClient(TestKeys.OtherWriter))).StatusCode); // another tenant's budget

        var usage = await client.GetFromJsonAsync<JsonElement>("/v1/llm/usage?days=2");
        var today = Assert.Single(usage.GetProperty("usage").EnumerateArray());
        Assert.Equal(("2026-11-25", 2, 22, 14, 30), (today.GetProperty("day").GetString(), today.GetProperty("requests").GetInt32(),
            today.GetProperty("prompt_tokens").GetInt32(), today.GetProperty("completion_tokens").GetInt32(), today.GetProperty("budget_tokens").GetInt32()));

        gateway.Clock.Advance(TimeSpan.FromHours(6)); // midnight: a new day's budget
        Assert.Equal(HttpStatusCode.OK, (await AskAsync(client)).StatusCode);

        await Eventually.WaitUntilAsync(() => _learning.Signals.Any(s => s.GetProperty("summary").GetString() == "LLM budget reached for tenant tenant-a"),
            "the budget signal", seconds: 10);
        Assert.Single(_learning.Signals, s => s.GetProperty("summary").GetString() == "LLM budget reached for tenant tenant-a");
        Assert.Equal(2, Sample(await ScrapeAsync(gateway), "llm_budget_rejections_total"));
    }

    [Fact]
    public async Task Two_gateway_processes_share_one_budget_through_postgres()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            var settings = new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ConnectionStrings:gateway"] = database.ConnectionString,
                ["ServiceApiKey"] = TestKeys.Service,
                ["services:routing:http:0"] = _routing.BaseAddress.ToString().TrimEnd('/'),
                ["services:learning-service:http:0"] = _learning.Address,
                ["Llm:Budgets:tenant-a:DailyTokens"] = "30",
                ["Connectors:0:Id"] = "llm:main", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/ok/v1",
                ["Connectors:0:Models:0"] = "*-model",
            };
            using var first = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            using var second = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            Assert.Equal(HttpStatusCode.OK, (await AskAsync(first.CreateClient(TestKeys.Writer))).StatusCode);  // 18 tokens
            Assert.Equal(HttpStatusCode.OK, (await AskAsync(second.CreateClient(TestKeys.Writer))).StatusCode); // 36, recorded by the other
            Assert.Equal(HttpStatusCode.TooManyRequests, (await AskAsync(first.CreateClient(TestKeys.Writer))).StatusCode);
            Assert.Equal(HttpStatusCode.TooManyRequests, (await AskAsync(second.CreateClient(TestKeys.Writer))).StatusCode);
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Actual_usage_is_priced_by_the_routing_catalogue_and_kept_as_the_tenants_spend()
    {
        await using var gateway = Gateway();
        ChatCompletion completion = await Chat(gateway, "gpt-4o").CompleteChatAsync([new UserChatMessage("hello")]);
        Assert.Equal((11, 7), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount));

        // The price is added beside the call, once the answer is complete.
        await Eventually.WaitUntilAsync(async () =>
        {
            var usage = await gateway.CreateClient(TestKeys.Writer).GetFromJsonAsync<JsonElement>("/v1/llm/usage");
            var row = Assert.Single(usage.GetProperty("usage").EnumerateArray());
            return row.GetProperty("model").GetString() == "gpt-4o" && row.GetProperty("requests").GetInt32() == 1 && row.GetProperty("cost_usd").GetDecimal() > 0;
        }, "the call's price in the spend", seconds: 10);
        Assert.True(Sample(await ScrapeAsync(gateway), "llm_cost_usd_total", ("model", "gpt-4o*")) > 0);
    }
}
