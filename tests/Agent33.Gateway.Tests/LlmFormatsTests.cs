using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;
using Anthropic;
using Anthropic.Models.Messages;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// Any inbound API reaches any upstream format through one internal call (issue 28): the official OpenAI and Anthropic
/// .NET SDKs, and Microsoft.Extensions.AI over both, against a provider on loopback that speaks each format
/// (<see cref="FormatProvider"/>): plain answers, streams, tool round trips, usage, budgets, errors in each API's shape.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class LlmFormatsTests : IAsyncLifetime
{
    private FormatProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await FormatProvider.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    /// <summary>Models <c>o-*</c> are served by an OpenAI chat connector, <c>a-*</c> by an Anthropic one; routing is down (explicit models).</summary>
    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        ("ServiceApiKey", TestKeys.Service),
        ("services:routing:http:0", "http://127.0.0.1:9"),
        .. GatewayFactory.Connector(0, "llm:openai", $"{_provider.Address}/openai/v1", kind: "llm", more: [("Models:0", "o-*"), ("ApiKey", "openai-secret")]),
        .. GatewayFactory.Connector(1, "llm:anthropic", $"{_provider.Address}/anthropic/v1", kind: "llm",
            more: [("Models:0", "a-*"), ("Format", "anthropic"), ("ApiKey", "anthropic-secret")]),
        .. more,
    ]);

    /// <summary>What each upstream answers to "hello": its text, and the usage the caller must see.</summary>
    public static TheoryData<string, string, int, int> Upstreams => new()
    {
        { "o-model", "openai", 11, 7 },
        { "a-model", "anthropic", 13, 5 }, // 10 uncached + 3 cached input tokens
    };

    private static ChatClient OpenAiChat(GatewayFactory gateway, string model)
    {
        var http = gateway.CreateClient();
        return new ChatClient(model, new ApiKeyCredential(TestKeys.Writer), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
        });
    }

    private static AnthropicClient Anthropic(GatewayFactory gateway)
    {
        var http = gateway.CreateClient();
        return new AnthropicClient { ApiKey = TestKeys.Writer, BaseUrl = http.BaseAddress!.ToString().TrimEnd('/'), HttpClient = http, MaxRetries = 0 };
    }

    private static MessageCreateParams Hello(string model) => new()
    {
        Model = model,
        MaxTokens = 100,
        Messages = [new UserMessageParam { Content = "hello" }],
    };

    // ---------- Anthropic Messages inbound ----------

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_anthropic_sdk_gets_a_message_with_usage_from_either_upstream(string model, string upstream, int input, int output)
    {
        await using var gateway = Gateway();
        var message = await Anthropic(gateway).Messages.Create(Hello(model));
        Assert.True(message.Content.Single().TryPickText(out var text));
        Assert.Equal($"{upstream} says: hello", text?.Text);
        Assert.Equal((input, output), (message.Usage.InputTokens, message.Usage.OutputTokens));
        Assert.Equal("end_turn", message.StopReason?.Raw());

        var sent = _provider.Requests.Last();
        Assert.Equal(upstream, sent.Format);
        Assert.Equal(upstream == "openai" ? "Bearer openai-secret" : "anthropic-secret",
            upstream == "openai" ? sent.Headers.Authorization.ToString() : sent.Headers["x-api-key"].ToString()); // never the caller's key
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(1, Sample(metrics, "llm_requests_total", ("api", "messages"), ("connector", $"llm:{upstream}"), ("outcome", "success")));
        Assert.Equal(input, Sample(metrics, "llm_tokens_total", ("api", "messages"), ("kind", "prompt"), ("source", "provider")));
    }

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_anthropic_sdk_streams_a_message_event_by_event_from_either_upstream(string model, string upstream, int input, int output)
    {
        await using var gateway = Gateway();
        var text = new StringBuilder();
        var kinds = new List<string>();
        long? outputTokens = null;
        await foreach (var streamed in Anthropic(gateway).Messages.CreateStreaming(Hello(model)))
        {
            kinds.Add(streamed.Type.Raw());
            if (streamed.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var piece))
            {
                text.Append(piece.Text);
            }
            if (streamed.TryPickDelta(out var end))
            {
                outputTokens = end.Usage.OutputTokens;
            }
        }
        Assert.Equal($"{upstream} says: hello", text.ToString());
        Assert.Equal("message_start", kinds[0]);
        Assert.Equal(["message_delta", "message_stop"], kinds[^2..]);
        Assert.Equal(3, kinds.Count(k => k == "content_block_delta")); // as the provider sent them, not gathered
        Assert.Equal(output, outputTokens);
        var usage = await UsageRowAsync(gateway, model);
        Assert.Equal((input, output, false), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("estimated").GetBoolean()));
    }

    [Theory]
    [InlineData("o-model", "openai", false)]
    [InlineData("a-model", "anthropic", false)]
    [InlineData("o-model", "openai", true)]
    [InlineData("a-model", "anthropic", true)]
    public async Task Microsoft_extensions_ai_over_the_anthropic_sdk_does_a_tool_round_trip_to_either_upstream(string model, string upstream, bool streaming)
    {
        await using var gateway = Gateway();
        using var chat = new ChatClientBuilder(Anthropic(gateway).AsIChatClient(model, 200)).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [AIFunctionFactory.Create((string city) => $"sunny in {city}", "weather", "The weather of a city.")] };
        var answer = streaming
            ? string.Concat(await chat.GetStreamingResponseAsync("What is the weather?", options).Select(u => u.Text).ToListAsync())
            : (await chat.GetResponseAsync("What is the weather?", options)).Text;
        Assert.Equal($"{upstream} says: \"sunny in Paris\"", answer); // the function's result, as Microsoft.Extensions.AI serializes it

        // The second call carried the tool's result in the upstream's own form.
        var (_, body, _) = _provider.Requests.Last();
        var result = upstream == "openai"
            ? body["messages"]!.AsArray().Single(m => (string?)m!["role"] == "tool")!["content"]!.ToString()
            : body["messages"]!.AsArray().Last()!["content"]!.AsArray().Single(b => (string?)b!["type"] == "tool_result")!["content"]!.ToString();
        Assert.Contains("sunny in Paris", result);
    }

    [Fact]
    public void Every_format_the_catalog_accepts_has_a_translation_and_no_other()
    {
        Assert.Equal(Agent33.Gateway.Catalog.ConnectorOptions.LlmFormats.Order(), Agent33.Gateway.Llm.Formats.UpstreamFormats.Names.Order());
    }

    [Fact]
    public async Task Messages_errors_come_in_anthropics_shape_with_the_contracts_code()
    {
        await using var gateway = Gateway(("Llm:Budgets:tenant-a:DailyTokens", "1"));
        var client = gateway.CreateClient(TestKeys.Writer);
        using var unserved = new StringContent("""{"model":"z-model","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        var response = await client.PostAsync("/v1/messages", unserved);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("error", "not_found_error"), (error.GetProperty("type").GetString(), error.GetProperty("error").GetProperty("type").GetString()));
        Assert.Equal("model_not_served", response.Headers.GetValues("X-Agent33-Error-Code").Single());

        using var thinking = new StringContent("""{"model":"a-model","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}""",
            Encoding.UTF8, "application/json");
        response = await client.PostAsync("/v1/messages", thinking);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("'thinking'", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());

        // A budget refusal, as the SDK sees it: a 429 it does not retry (x-should-retry: false).
        await Anthropic(gateway).Messages.Create(Hello("a-model"));
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => Anthropic(gateway).Messages.Create(Hello("a-model")));
        Assert.Contains("TooManyRequests", refused.Message);
        Assert.Contains("daily LLM budget", refused.Message);
    }

    // ---------- OpenAI chat completions inbound, Anthropic upstream ----------

    [Fact]
    public async Task The_openai_sdk_gets_an_anthropic_providers_answer_stream_and_tool_call_as_chat_completions()
    {
        await using var gateway = Gateway();
        var chat = OpenAiChat(gateway, "a-model");
        ChatCompletion completion = await chat.CompleteChatAsync([new SystemChatMessage("be brief"), new UserChatMessage("hello")]);
        Assert.Equal("anthropic says: hello", completion.Content[0].Text);
        Assert.Equal((13, 5), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount));
        var (format, sent, _) = _provider.Requests.Last();
        Assert.Equal("anthropic", format);
        Assert.Equal("be brief", (string?)sent["system"]); // system messages travel as Anthropic's system field

        var streamed = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hello")]))
        {
            streamed.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
        }
        Assert.Equal("anthropic says: hello", streamed.ToString());

        var weather = ChatTool.CreateFunctionTool("weather", "The weather of a city.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""));
        var options = new ChatCompletionOptions { Tools = { weather } };
        List<OpenAI.Chat.ChatMessage> conversation = [new UserChatMessage("What is the weather?")];
        ChatCompletion call = await chat.CompleteChatAsync(conversation, options);
        Assert.Equal(ChatFinishReason.ToolCalls, call.FinishReason);
        var toolCall = call.ToolCalls.Single();
        Assert.Equal(("toolu_1", "weather", "Paris"), (toolCall.Id, toolCall.FunctionName, JsonDocument.Parse(toolCall.FunctionArguments).RootElement.GetProperty("city").GetString()));
        conversation.Add(new AssistantChatMessage(call));
        conversation.Add(new ToolChatMessage(toolCall.Id, "sunny"));
        ChatCompletion final = await chat.CompleteChatAsync(conversation, options);
        Assert.Equal("anthropic says: sunny", final.Content[0].Text);
        var toolUse = _provider.Requests.Last().Body["messages"]!.AsArray()[1]!["content"]!.AsArray().Single();
        Assert.Equal(("tool_use", "toolu_1", "Paris"), ((string?)toolUse!["type"], (string?)toolUse["id"], (string?)toolUse["input"]!["city"]));
    }

    [Fact]
    public async Task A_streamed_tool_call_from_an_anthropic_provider_reaches_the_openai_sdk_in_pieces()
    {
        await using var gateway = Gateway();
        var weather = ChatTool.CreateFunctionTool("weather", "The weather of a city.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""));
        var arguments = new StringBuilder();
        string? name = null;
        ChatFinishReason? finish = null;
        await foreach (var update in OpenAiChat(gateway, "a-model").CompleteChatStreamingAsync([new UserChatMessage("weather?")], new ChatCompletionOptions { Tools = { weather } }))
        {
            foreach (var piece in update.ToolCallUpdates)
            {
                name ??= piece.FunctionName;
                arguments.Append(piece.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal(("weather", """{"city":"Paris"}""", ChatFinishReason.ToolCalls), (name, arguments.ToString(), finish));
    }

    [Fact]
    public async Task A_request_an_upstream_format_cannot_carry_is_a_400_that_names_the_field()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        using var body = new StringContent("""{"model":"a-model","n":3,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        var response = await client.PostAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("invalid_request", error.GetProperty("code").GetString());
        Assert.Contains("'n'", error.GetProperty("message").GetString());
        Assert.Empty(_provider.Requests); // nothing was sent
    }

    // ---------- Embeddings ----------

    [Fact]
    public async Task The_openai_sdk_gets_embeddings_charged_as_prompt_tokens_and_auto_takes_the_embedding_model()
    {
        await using var gateway = Gateway(("Llm:EmbeddingModel", "o-embed"));
        var http = gateway.CreateClient();
        var embeddings = new OpenAI.Embeddings.EmbeddingClient("auto", new ApiKeyCredential(TestKeys.Writer),
            new OpenAIClientOptions { Endpoint = new Uri(http.BaseAddress!, "/v1"), Transport = new HttpClientPipelineTransport(http) });
        var result = (await embeddings.GenerateEmbeddingsAsync(["first text", "second text"])).Value;
        Assert.Equal([0.5f, 1f, -0.25f], result[1].ToFloats().ToArray());
        Assert.Equal("o-embed", (string?)_provider.Requests.Last().Body["model"]);

        var row = await UsageRowAsync(gateway, "o-embed");
        Assert.Equal((8, 0, false), (row.GetProperty("prompt_tokens").GetInt32(), row.GetProperty("completion_tokens").GetInt32(), row.GetProperty("estimated").GetBoolean()));
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(1, Sample(metrics, "llm_requests_total", ("api", "embeddings"), ("connector", "llm:openai"), ("outcome", "success")));
    }

    [Fact]
    public async Task Embeddings_of_a_model_only_an_anthropic_connector_serves_are_a_400_and_a_budget_holds_them_too()
    {
        await using var gateway = Gateway(("Llm:Budgets:tenant-a:DailyTokens", "5"));
        var client = gateway.CreateClient(TestKeys.Writer);
        var response = await client.PostAsync("/v1/embeddings", Json("""{"model":"a-embed","input":"hello"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("serves no embeddings", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("message").GetString());

        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/v1/embeddings", Json("""{"model":"o-embed","input":[]}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/embeddings", Json("""{"model":"o-embed","input":["a","b"]}"""))).StatusCode); // 8 tokens: over the budget
        response = await client.PostAsync("/v1/embeddings", Json("""{"model":"o-embed","input":"hello"}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("budget_exceeded", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task An_unknown_format_stops_the_gateway_at_start_up()
    {
        var gateway = new GatewayFactory([.. GatewayFactory.Connector(0, "llm:x", $"{_provider.Address}/x/v1", kind: "llm", more: [("Models:0", "x-*"), ("Format", "gemini")])]);
        var failure = Assert.ThrowsAny<Exception>(() => gateway.CreateClient());
        Assert.Contains("Format of openai, anthropic", failure.ToString());
        await gateway.DisposeAsync();
    }

    private static async Task<JsonElement> UsageRowAsync(GatewayFactory gateway, string model)
    {
        var usage = await gateway.CreateClient(TestKeys.Writer).GetFromJsonAsync<JsonElement>("/v1/llm/usage");
        return usage.GetProperty("usage").EnumerateArray().Single(r => r.GetProperty("model").GetString() == model);
    }
}
