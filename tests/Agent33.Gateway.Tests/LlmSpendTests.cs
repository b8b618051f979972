using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;
using OpenAI;
using OpenAI.Chat;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// LLM spend that holds (issue 25): budgets reserved before the call and settled after it, on one or two gateway
/// processes over real Postgres; every answer charged (provider usage or a marked estimate); bounded, linear usage
/// taps; provider usage validated; refusals SDKs do not retry. Fake providers on loopback (<see cref="LlmProvider"/>).
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class LlmSpendTests : IAsyncLifetime
{
    private LlmProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await LlmProvider.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    /// <summary>A gateway whose routing is down (explicit models only; prices unknown), one llm connector per provider path.</summary>
    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        ("ServiceApiKey", TestKeys.Service),
        ("services:routing:http:0", "http://127.0.0.1:9"),
        .. Providers(),
        .. more,
    ]);

    private static readonly string[] Paths = ["ok", "slow", "big", "nousage", "stall", "cut", "endless", "endless-after", "negative", "absurd"];

    private (string, string)[] Providers() => [.. Paths.SelectMany((path, i) => GatewayFactory.Connector(i, $"llm:{path}", $"{_provider.Address}/{path}/v1", kind: "llm",
        // A short idle timeout for the providers that stall; the slow one keeps a long one, so a loaded machine's
        // pauses between its bytes are not taken for a stall.
        more: [("Models:0", $"{path}-model"), ("StreamIdleTimeoutSeconds", path == "slow" ? "30" : "1")]))];

    private static StringContent Body(string model, bool stream = false, int maxTokens = 10) =>
        new($$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"max_tokens":{{maxTokens}},"messages":[{"role":"user","content":"hi"}]}""",
            Encoding.UTF8, "application/json");

    private static async Task<JsonElement> UsageRowAsync(HttpClient client, string model)
    {
        var usage = await client.GetFromJsonAsync<JsonElement>("/v1/llm/usage");
        return usage.GetProperty("usage").EnumerateArray().Single(r => r.GetProperty("model").GetString() == model);
    }

    private static async Task<JsonElement> WaitForRowAsync(HttpClient client, string model, int requests)
    {
        JsonElement row = default;
        await Eventually.WaitUntilAsync(async () =>
        {
            var usage = await client.GetFromJsonAsync<JsonElement>("/v1/llm/usage");
            var rows = usage.GetProperty("usage").EnumerateArray().Where(r => r.GetProperty("model").GetString() == model).ToList();
            if (rows.Count == 1 && rows[0].GetProperty("requests").GetInt32() == requests)
            {
                row = rows[0];
                return true;
            }
            return false;
        }, $"{requests} request(s) of {model} in the spend", seconds: 15);
        return row;
    }

    // ---------- Reserve, then settle ----------

    /// <summary>
    /// Found as an attacker: with the budget checked before the call and spend added after it, 8 parallel calls of
    /// 100 tokens all passed a 100-token budget. Each call now reserves its prompt (counted) plus max_tokens first.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    public async Task Concurrent_calls_on_two_gateway_processes_never_pass_a_budget_by_more_than_one_reservation(int calls)
    {
        const int budget = 100, maxTokens = 10;
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            var settings = new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ConnectionStrings:gateway"] = database.ConnectionString,
                ["ServiceApiKey"] = TestKeys.Service,
                ["services:routing:http:0"] = "http://127.0.0.1:9",
                ["services:learning-service:http:0"] = "http://127.0.0.1:9",
                ["Llm:Budgets:tenant-a:DailyTokens"] = budget.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Connectors:0:Id"] = "llm:slow", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/slow/v1",
                ["Connectors:0:Models:0"] = "slow-model",
            };
            using var first = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            using var second = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            using var one = first.CreateClient(TestKeys.Writer, maxConnections: calls);
            using var other = second.CreateClient(TestKeys.Writer, maxConnections: calls);
            using var start = new SemaphoreSlim(0);
            var answers = await Task.WhenAll(Enumerable.Range(0, calls).Select(async i =>
            {
                await start.WaitAsync();
                using var response = await (i % 2 == 0 ? one : other).PostAsync("/v1/chat/completions", Body("slow-model", maxTokens: maxTokens));
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
                }
                return response.StatusCode;
            }).Append(Task.Run(() => { start.Release(calls); return HttpStatusCode.Continue; })));
            var served = answers.Count(a => a == HttpStatusCode.OK);
            Assert.Equal(calls, served + answers.Count(a => a == HttpStatusCode.TooManyRequests));

            // One reservation: "hi" counted (3 priming + 4 per message + "user" + "hi") plus max_tokens.
            var reservation = TokenCounterReservation(maxTokens);
            var row = await WaitForRowAsync(one, "slow-model", served);
            var recorded = row.GetProperty("prompt_tokens").GetInt64() + row.GetProperty("completion_tokens").GetInt64();
            Assert.True(recorded <= budget + reservation, $"{calls} calls recorded {recorded} tokens against a budget of {budget} (+ one reservation of {reservation}); {served} served");
            Assert.True(served >= 1 && served < calls, $"{served} of {calls} served");
            Assert.Equal(served * 18, recorded); // every served call is charged its provider usage
            var today = (await other.GetFromJsonAsync<JsonElement>("/v1/llm/usage")).GetProperty("today");
            Assert.Equal(0, today.GetProperty("reserved_tokens").GetInt64()); // every reservation settled
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    private static long TokenCounterReservation(int maxTokens) =>
        Llm.TokenCounter.CountPrompt("slow-model", [new System.Text.Json.Nodes.JsonObject { ["role"] = "user", ["content"] = "hi" }], null) + maxTokens;

    /// <summary>A replica that dies mid-call leaves its reservation; it holds the budget until it expires, then another replica releases it and counts it.</summary>
    [Fact]
    public async Task A_reservation_left_by_a_killed_replica_is_renewed_while_it_lived_and_expires_after()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            var settings = new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ConnectionStrings:gateway"] = database.ConnectionString,
                ["ServiceApiKey"] = TestKeys.Service,
                ["services:routing:http:0"] = "http://127.0.0.1:9",
                ["services:learning-service:http:0"] = "http://127.0.0.1:9",
                ["Llm:Budgets:tenant-a:DailyTokens"] = "1",
                ["Llm:ReservationTtlSeconds"] = "2",
                ["Connectors:0:Id"] = "llm:stall", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/stall/v1",
                ["Connectors:0:Models:0"] = "stall-model", ["Connectors:0:StreamIdleTimeoutSeconds"] = "60",
                ["Connectors:1:Id"] = "llm:ok", ["Connectors:1:Kind"] = "llm", ["Connectors:1:Destination"] = $"{_provider.Address}/ok/v1",
                ["Connectors:1:Models:0"] = "ok-model",
            };
            using var dying = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            using var living = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
            using var stalled = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body("stall-model", stream: true) };
            using var dyingClient = dying.CreateClient(TestKeys.Writer);
            using var stream = await dyingClient.SendAsync(stalled, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);

            using var client = living.CreateClient(TestKeys.Writer);
            await Task.Delay(TimeSpan.FromSeconds(3)); // longer than the reservation's lifetime: renewed by the live call
            Assert.Equal(HttpStatusCode.TooManyRequests, (await client.PostAsync("/v1/chat/completions", Body("ok-model"))).StatusCode);

            dying.Kill();
            await Eventually.WaitUntilAsync(async () => (await client.PostAsync("/v1/chat/completions", Body("ok-model"))).StatusCode == HttpStatusCode.OK,
                "the dead replica's reservation expired", seconds: 15);
            var metrics = await client.GetStringAsync("/metrics");
            Assert.True(Sample(metrics, "llm_reservations_expired_total") >= 1, "the expiry is counted");
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    /// <summary>The in-memory store (no database) keeps the same semantics: concurrent calls in one process pass a budget by at most one reservation.</summary>
    [Fact]
    public async Task Without_a_database_concurrent_calls_are_held_to_the_budget_the_same_way()
    {
        await using var gateway = Gateway(("Llm:Budgets:tenant-a:DailyTokens", "100"));
        var client = gateway.CreateClient(TestKeys.Writer);
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ => (await client.PostAsync("/v1/chat/completions", Body("slow-model"))).StatusCode));
        var served = answers.Count(a => a == HttpStatusCode.OK);
        var seen = string.Join(", ", answers);
        Assert.True(served >= 1, $"no call served: {seen}");
        Assert.Equal(16 - served, answers.Count(a => a == HttpStatusCode.TooManyRequests));
        var row = await WaitForRowAsync(client, "slow-model", served);
        var recorded = row.GetProperty("prompt_tokens").GetInt64() + row.GetProperty("completion_tokens").GetInt64();
        Assert.Equal(served * 18, recorded); // every served call charged its provider usage, no refused one
        Assert.True(recorded <= 100 + TokenCounterReservation(10), $"{recorded} tokens recorded for {seen}");
    }

    // ---------- Every answer is charged ----------

    [Fact]
    public async Task A_stream_the_caller_closes_after_its_first_chunk_is_charged_an_estimate()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body("ok-model", stream: true) })
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[256];
            Assert.True(await stream.ReadAsync(buffer) > 0);
        } // closed before the usage chunk
        var row = await WaitForRowAsync(client, "ok-model", 1);
        Assert.True(row.GetProperty("estimated").GetBoolean());
        Assert.True(row.GetProperty("prompt_tokens").GetInt64() > 0);
        Assert.True(row.GetProperty("completion_tokens").GetInt64() >= 1);
        await Eventually.WaitUntilAsync(async () => Sample(await ScrapeAsync(gateway), "llm_tokens_total", ("source", "estimated"), ("kind", "prompt")) > 0,
            "estimated tokens counted", seconds: 5);
    }

    [Theory]
    [InlineData("stall", 2)] // the provider goes silent: the stream idle timeout (1 s) cuts it
    [InlineData("cut", 2)] // the provider drops the connection
    [InlineData("nousage", 5)] // the usage chunk never comes
    public async Task A_stream_without_usage_is_charged_the_counted_prompt_and_relayed_deltas_marked_estimated(string provider, int parts)
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        try
        {
            using var response = await client.PostAsync("/v1/chat/completions", Body($"{provider}-model", stream: true));
            await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException)
        {
            // a cut stream may end the caller's response abruptly
        }
        catch (IOException)
        {
        }
        var row = await WaitForRowAsync(client, $"{provider}-model", 1);
        Assert.True(row.GetProperty("estimated").GetBoolean());
        Assert.Equal(TokenCounterReservation(0), row.GetProperty("prompt_tokens").GetInt64()); // the prompt as counted
        var deltas = Enumerable.Range(0, parts).Sum(i => Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("o200k_base").CountTokens($"part{i} ") + 1L);
        Assert.InRange(row.GetProperty("completion_tokens").GetInt64(), parts, deltas); // "assistant" role deltas and the text
    }

    /// <summary>Found as an attacker: a 5.2 MB answer reached the caller and was never charged (the tap stopped copying at 4 MiB).</summary>
    [Fact]
    public async Task A_five_megabyte_json_answer_is_relayed_whole_and_charged_its_usage()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        using var response = await client.PostAsync("/v1/chat/completions", Body("big-model"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadAsByteArrayAsync();
        Assert.True(answer.Length > 5_000_000, $"{answer.Length} bytes");
        Assert.Equal(1234, JsonDocument.Parse(answer).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var row = await WaitForRowAsync(client, "big-model", 1);
        Assert.Equal((11, 1234, false), (row.GetProperty("prompt_tokens").GetInt64(), row.GetProperty("completion_tokens").GetInt64(), row.GetProperty("estimated").GetBoolean()));
        Assert.Equal(1234, Sample(await ScrapeAsync(gateway), "llm_tokens_total", ("kind", "completion"), ("source", "provider")));
    }

    // ---------- Bounded, linear taps ----------

    /// <summary>
    /// Found as an attacker: an event that never ended grew the gateway by 45 MB in 20 s and burnt 13.7 s of CPU (the tap
    /// rescanned its buffer on every write), and the caller got nothing. The event is now cut at Llm:MaxEventBytes: a
    /// 502 before any byte, memory bounded by the limit, measured by the bytes this process allocated.
    /// </summary>
    [Fact]
    public async Task An_event_that_never_ends_is_cut_at_the_limit_with_a_502_and_bounded_allocation()
    {
        const int limit = 256 * 1024;
        await using var gateway = Gateway(("Llm:MaxEventBytes", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var client = gateway.CreateClient(TestKeys.Writer);
        using (await client.PostAsync("/v1/chat/completions", Body("ok-model", stream: true))) { } // warm up the path
        _provider.ResetEndless();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        using var response = await client.PostAsync("/v1/chat/completions", Body("endless-model", stream: true));
        var text = await response.Content.ReadAsStringAsync();
        await _provider.EndlessStopped.Task.WaitAsync(TimeSpan.FromSeconds(20));
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("http_error", error.GetProperty("code").GetString());
        // (What the provider counts as sent is no bound: Kestrel turns writes to a connection the gateway closed into
        // no-ops until it notices, which on a loaded machine took 1.6 GB of them. The allocation is the gateway's own.)
        // Everything this process allocated for the call (the provider's socket reads, the gateway's relay, the tap):
        // a few times the limit, never the stream (which would be unbounded without the cut).
        Assert.True(allocated < 32L * 1024 * 1024, $"{allocated / 1024 / 1024.0:F1} MiB allocated for a stream cut at {limit / 1024} KiB");
        Assert.Equal(1, Sample(await ScrapeAsync(gateway), "llm_events_too_large_total", ("connector", "llm:endless")));
        var row = await WaitForRowAsync(client, "endless-model", 1);
        Assert.True(row.GetProperty("estimated").GetBoolean()); // the provider answered: charged an estimate
    }

    [Fact]
    public async Task An_endless_event_after_a_relayed_chunk_ends_the_stream_with_an_openai_error_event()
    {
        // On a real Kestrel (a process): the in-memory test server drops what it had buffered when the forwarder aborts.
        using var gateway = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:routing:http:0"] = "http://127.0.0.1:9",
            ["services:learning-service:http:0"] = "http://127.0.0.1:9",
            ["Llm:MaxEventBytes"] = "65536",
            ["Connectors:0:Id"] = "llm:endless-after", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/endless-after/v1",
            ["Connectors:0:Models:0"] = "endless-after-model",
        });
        using var client = gateway.CreateClient(TestKeys.Writer);
        _provider.ResetEndless();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body("endless-after-model", stream: true) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Read as an SDK does, event by event: the error event arrives before the connection ends.
        var text = new StringBuilder();
        var buffer = new byte[64 * 1024];
        try
        {
            var stream = await response.Content.ReadAsStreamAsync();
            for (int read; (read = await stream.ReadAsync(buffer)) > 0;)
            {
                text.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // the upstream is stopped once the error event is out
        }
        Assert.Contains("first ", text.ToString());
        var last = text.ToString().Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Last();
        Assert.StartsWith("data: ", last);
        Assert.Equal("http_error", JsonDocument.Parse(last["data: ".Length..]).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.DoesNotContain("xxxxxxxx", text.ToString()); // nothing of the oversized event reached the caller
        await _provider.EndlessStopped.Task.WaitAsync(TimeSpan.FromSeconds(20));
    }

    // ---------- Provider usage validated ----------

    [Theory]
    [InlineData("negative")]
    [InlineData("absurd")]
    public async Task Usage_that_is_negative_or_absurd_is_not_stored_as_given_but_estimated_and_counted(string provider)
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsync("/v1/chat/completions", Body($"{provider}-model"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var row = await WaitForRowAsync(client, $"{provider}-model", 2);
        Assert.True(row.GetProperty("estimated").GetBoolean());
        Assert.Equal(2 * TokenCounterReservation(0), row.GetProperty("prompt_tokens").GetInt64());
        var completion = row.GetProperty("completion_tokens").GetInt64();
        Assert.Equal(provider == "negative" ? 14 : 4, completion); // 7 as reported twice; else "hello there" counted twice
        Assert.Equal(2, Sample(await ScrapeAsync(gateway), "llm_usage_invalid_total", ("connector", $"llm:{provider}")));
    }

    // ---------- Client-friendly refusals ----------

    /// <summary>
    /// Found with real clients: the official openai SDK (Python, maxRetries 2) slept until UTC midnight on a budget
    /// refusal. The refusal now carries <c>x-should-retry: false</c>, which the Python and Node SDKs honour before
    /// Retry-After. The .NET SDK (System.ClientModel 1.16) does not read it and waits out Retry-After on a 429, so a
    /// .NET caller is shown here with retries off (its <c>ClientRetryPolicy</c>), and gets the refusal at once.
    /// </summary>
    [Fact]
    public async Task A_budget_refusal_says_not_to_retry_in_openais_shape()
    {
        await using var gateway = Gateway(("Llm:Budgets:tenant-a:DailyTokens", "1"));
        gateway.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 25, 1, 0, 0, TimeSpan.Zero)); // 23 h to midnight
        var http = gateway.CreateClient();
        var chat = new ChatClient("ok-model", new ApiKeyCredential(TestKeys.Writer), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });
        await chat.CompleteChatAsync([new UserChatMessage("hello")]); // fills the budget

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("again")]));
        Assert.Equal(429, error.Status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{clock.Elapsed}");
        var raw = error.GetRawResponse()!;
        Assert.True(raw.Headers.TryGetValue("x-should-retry", out var shouldRetry) && shouldRetry == "false");
        Assert.True(raw.Headers.TryGetValue("Retry-After", out var retryAfter) && retryAfter == "82800");
        var body = raw.Content.ToObjectFromJson<JsonElement>().GetProperty("error");
        Assert.Equal(("budget_exceeded", "insufficient_quota"), (body.GetProperty("code").GetString(), body.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Usage_takes_the_contracts_tenant_id_and_another_tenant_needs_admin()
    {
        await using var gateway = Gateway();
        using (await gateway.CreateClient(TestKeys.OtherWriter).PostAsync("/v1/chat/completions", Body("ok-model"))) { }
        var other = await WaitForTenantAsync(gateway.CreateClient(TestKeys.Admin), "tenant-b");
        Assert.Equal(1, other.GetProperty("usage").EnumerateArray().Single().GetProperty("requests").GetInt32());

        var refused = await gateway.CreateClient(TestKeys.Reader).GetAsync("/v1/llm/usage?tenant_id=tenant-b");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("cross_tenant_denied", await refused.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> WaitForTenantAsync(HttpClient admin, string tenant)
    {
        JsonElement usage = default;
        await Eventually.WaitUntilAsync(async () =>
        {
            usage = await admin.GetFromJsonAsync<JsonElement>($"/v1/llm/usage?tenant_id={tenant}");
            return usage.GetProperty("tenant_id").GetString() == tenant && usage.GetProperty("usage").GetArrayLength() == 1;
        }, "the other tenant's usage", seconds: 10);
        return usage;
    }

    [Fact]
    public async Task Llm_connectors_serving_a_model_are_tried_in_configuration_order()
    {
        // Configured down (index 0) before ok (index 1), with ids that sort the other way.
        await using var gateway = new GatewayFactory([
            ("services:routing:http:0", "http://127.0.0.1:9"),
            .. GatewayFactory.Connector(0, "llm:z-first", $"{_provider.Address}/down/v1", kind: "llm", more: [("Models:0", "order-model")]),
            .. GatewayFactory.Connector(1, "llm:a-second", $"{_provider.Address}/ok/v1", kind: "llm", more: [("Models:0", "order-model")]),
        ]);
        var before = _provider.Requests.Count;
        using var response = await gateway.CreateClient(TestKeys.Writer).PostAsync("/v1/chat/completions", Body("order-model"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("llm:a-second", response.Headers.GetValues("X-Connector-Id").Single());
        Assert.Equal(["down", "ok"], _provider.Requests.Skip(before).Select(r => r.Provider).ToArray());
    }
}
