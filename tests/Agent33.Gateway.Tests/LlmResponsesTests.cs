// The SDK's Responses types are marked for evaluation; the gateway's contract is the API they speak, which is what is tested.
#pragma warning disable OPENAI001
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Llm;
using Agent33.Gateway.Llm.Formats;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenAI.Responses;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The OpenAI Responses API both ways (issue 28): <c>POST /v1/responses</c> served by any upstream format, and
/// <c>Format=openai-responses</c> connectors serving any inbound API; stored responses (get, continue, delete, tenant
/// scope, retention) in memory and in Postgres. The official OpenAI .NET SDK against <see cref="FormatProvider"/> on loopback.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class LlmResponsesTests : IAsyncLifetime
{
    private FormatProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await FormatProvider.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    /// <summary>Models <c>o-*</c>: an OpenAI chat connector, <c>a-*</c>: an Anthropic one, <c>r-*</c>: an OpenAI Responses one; routing is down (explicit models).</summary>
    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        ("ServiceApiKey", TestKeys.Service),
        ("services:routing:http:0", "http://127.0.0.1:9"),
        .. Connectors(),
        .. more,
    ]);

    private (string, string)[] Connectors() =>
    [
        .. GatewayFactory.Connector(0, "llm:openai", $"{_provider.Address}/openai/v1", kind: "llm", more: [("Models:0", "o-*"), ("ApiKey", "openai-secret")]),
        .. GatewayFactory.Connector(1, "llm:anthropic", $"{_provider.Address}/anthropic/v1", kind: "llm",
            more: [("Models:0", "a-*"), ("Format", "anthropic"), ("ApiKey", "anthropic-secret")]),
        .. GatewayFactory.Connector(2, "llm:responses", $"{_provider.Address}/responses/v1", kind: "llm",
            more: [("Models:0", "r-*"), ("Format", "openai-responses"), ("ApiKey", "responses-secret")]),
    ];

    /// <summary>What each upstream answers to "hello": its text, and the usage the caller must see.</summary>
    public static TheoryData<string, string, int, int> Upstreams => new()
    {
        { "o-model", "openai", 11, 7 },
        { "a-model", "anthropic", 13, 5 }, // 10 uncached + 3 cached input tokens
        { "r-model", "responses", 17, 3 },
    };

    public static TheoryData<string, string, bool> UpstreamsStreamingOrNot => new()
    {
        { "o-model", "openai", false }, { "a-model", "anthropic", false }, { "r-model", "responses", false },
        { "o-model", "openai", true }, { "a-model", "anthropic", true }, { "r-model", "responses", true },
    };

    private static ResponsesClient Responses(GatewayFactory gateway, string key = TestKeys.Writer)
    {
        var http = gateway.CreateClient();
        return new ResponsesClient(new ApiKeyCredential(key), new ResponsesClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(0),
        });
    }

    private static ChatClient OpenAiChat(GatewayFactory gateway, string model)
    {
        var http = gateway.CreateClient();
        return new ChatClient(model, new ApiKeyCredential(TestKeys.Writer), new OpenAI.OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
        });
    }

    private static CreateResponseOptions Ask(string model, string text, bool stream = false) =>
        new(model, [ResponseItem.CreateUserMessageItem(text)]) { StreamingEnabled = stream ? true : null };

    private static readonly FunctionTool Weather = ResponseTool.CreateFunctionTool("weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""), false, "The weather of a city.");

    /// <summary>A streamed response, read to its end: every update, and the response its last event carries.</summary>
    private static async Task<(List<StreamingResponseUpdate> Updates, ResponseResult? Final)> StreamAsync(ResponsesClient client, CreateResponseOptions options)
    {
        options.StreamingEnabled = true;
        var updates = new List<StreamingResponseUpdate>();
        ResponseResult? final = null;
        await using var stream = await client.CreateResponseStreamingAsync(options);
        await foreach (var update in stream)
        {
            updates.Add(update);
            final = update switch
            {
                StreamingResponseCompletedUpdate completed => completed.Response,
                StreamingResponseFailedUpdate failed => failed.Response,
                _ => final,
            };
        }
        return (updates, final);
    }

    // ---------- POST /v1/responses, any upstream ----------

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_responses_sdk_gets_a_response_with_usage_from_every_upstream(string model, string upstream, int input, int output)
    {
        await using var gateway = Gateway();
        ResponseResult response = await Responses(gateway).CreateResponseAsync(new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem("hello")])
        {
            Instructions = "be brief",
            MaxOutputTokenCount = 50,
        });
        Assert.Equal($"{upstream} says: hello", response.GetOutputText());
        Assert.Equal(ResponseStatus.Completed, response.Status);
        Assert.StartsWith("resp_", response.Id);
        Assert.Equal(model, response.Model);
        Assert.Equal((input, output, input + output), (response.Usage.InputTokenCount, response.Usage.OutputTokenCount, response.Usage.TotalTokenCount));
        var message = Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(response.OutputItems));
        Assert.Equal(MessageRole.Assistant, message.Role);
        Assert.Equal(50, response.MaxOutputTokenCount); // the request, echoed as the API does

        var (format, sent, headers) = _provider.Requests.Last();
        Assert.Equal(upstream, format);
        if (upstream == "responses")
        {
            Assert.Equal("Bearer responses-secret", headers.Authorization.ToString()); // never the caller's key
            Assert.Equal(("be brief", 50, false), ((string?)sent["instructions"], (int?)sent["max_output_tokens"], (bool?)sent["store"]));
            Assert.Equal(4, response.Usage.InputTokenDetails.CachedTokenCount);
        }
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(1, Sample(metrics, "llm_requests_total", ("api", "responses"), ("connector", $"llm:{upstream}"), ("outcome", "success")));
        Assert.Equal(input, Sample(metrics, "llm_tokens_total", ("api", "responses"), ("kind", "prompt"), ("source", "provider")));
    }

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_responses_sdk_streams_typed_events_as_they_arrive_from_every_upstream(string model, string upstream, int input, int output)
    {
        await using var gateway = Gateway();
        var (updates, final) = await StreamAsync(Responses(gateway), Ask(model, "hello"));
        var pieces = updates.OfType<StreamingResponseOutputTextDeltaUpdate>().Select(d => d.Delta).ToList();
        Assert.Equal(3, pieces.Count); // as the provider sent them, not gathered
        Assert.Equal($"{upstream} says: hello", string.Concat(pieces));
        Assert.Equal([StreamingResponseUpdateKind.ResponseCreated, StreamingResponseUpdateKind.ResponseInProgress, StreamingResponseUpdateKind.ResponseOutputItemAdded,
            StreamingResponseUpdateKind.ResponseContentPartAdded], updates.Take(4).Select(u => u.Kind));
        Assert.Equal([StreamingResponseUpdateKind.ResponseOutputTextDone, StreamingResponseUpdateKind.ResponseContentPartDone, StreamingResponseUpdateKind.ResponseOutputItemDone,
            StreamingResponseUpdateKind.ResponseCompleted], updates.TakeLast(4).Select(u => u.Kind));
        Assert.Equal(Enumerable.Range(0, updates.Count), updates.Select(u => u.SequenceNumber));
        Assert.Equal($"{upstream} says: hello", final!.GetOutputText());
        Assert.Equal((input, output), (final.Usage.InputTokenCount, final.Usage.OutputTokenCount));
        Assert.Equal(((StreamingResponseOutputItemAddedUpdate)updates[2]).Item.Id, ((StreamingResponseOutputItemDoneUpdate)updates[^2]).Item.Id);

        var usage = await gateway.CreateClient(TestKeys.Writer).GetFromJsonAsync<JsonElement>("/v1/llm/usage");
        var row = usage.GetProperty("usage").EnumerateArray().Single(r => r.GetProperty("model").GetString() == model);
        Assert.Equal((input, output, false), (row.GetProperty("prompt_tokens").GetInt32(), row.GetProperty("completion_tokens").GetInt32(), row.GetProperty("estimated").GetBoolean()));
    }

    [Theory]
    [MemberData(nameof(UpstreamsStreamingOrNot))]
    public async Task A_function_call_round_trip_works_through_every_upstream(string model, string upstream, bool streaming)
    {
        await using var gateway = Gateway();
        var client = Responses(gateway);
        List<ResponseItem> conversation = [ResponseItem.CreateUserMessageItem("What is the weather?")];
        async Task<ResponseResult> TurnAsync()
        {
            var options = new CreateResponseOptions(model, conversation) { Tools = { Weather }, StoredOutputEnabled = false };
            if (!streaming)
            {
                return await client.CreateResponseAsync(options);
            }
            var (updates, final) = await StreamAsync(client, options);
            if (final!.OutputItems.Any(i => i is FunctionCallResponseItem))
            {
                Assert.Equal("""{"city":"Paris"}""", string.Concat(updates.OfType<StreamingResponseFunctionCallArgumentsDeltaUpdate>().Select(d => d.Delta.ToString())));
            }
            return final;
        }

        var first = await TurnAsync();
        var call = Assert.IsType<FunctionCallResponseItem>(Assert.Single(first.OutputItems));
        Assert.Equal("weather", call.FunctionName);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString());
        Assert.StartsWith("fc_", call.Id);
        conversation.Add(call);
        conversation.Add(ResponseItem.CreateFunctionCallOutputItem(call.CallId, "sunny"));
        var second = await TurnAsync();
        Assert.Equal($"{upstream} says: sunny", second.GetOutputText());

        // The second call carried the call and its result in the upstream's own form.
        var (_, body, _) = _provider.Requests.Last();
        switch (upstream)
        {
            case "openai":
                Assert.Equal(call.CallId, (string?)body["messages"]![1]!["tool_calls"]![0]!["id"]);
                Assert.Equal(("tool", "sunny"), ((string?)body["messages"]![2]!["role"], (string?)body["messages"]![2]!["content"]));
                break;
            case "anthropic":
                Assert.Equal("tool_use", (string?)body["messages"]![1]!["content"]![0]!["type"]);
                Assert.Equal("tool_result", (string?)body["messages"]![2]!["content"]![0]!["type"]);
                break;
            default:
                Assert.Equal(["message", "function_call", "function_call_output"], body["input"]!.AsArray().Select(i => (string?)i!["type"]));
                Assert.Equal((call.CallId, "sunny"), ((string?)body["input"]![2]!["call_id"], (string?)body["input"]![2]!["output"]));
                break;
        }
    }

    [Fact]
    public async Task Hosted_tools_unknown_models_and_unknown_previous_responses_are_refused_in_openais_shape()
    {
        await using var gateway = Gateway();
        var client = gateway.CreateClient(TestKeys.Writer);
        async Task<(HttpStatusCode, JsonElement)> PostAsync(string json)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            var response = await client.PostAsync("/v1/responses", content);
            return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error"));
        }

        var (status, error) = await PostAsync("""{"model":"o-model","input":"hi","tools":[{"type":"web_search"}]}""");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (status, error.GetProperty("code").GetString()));
        Assert.Contains("'web_search'", error.GetProperty("message").GetString());
        Assert.Empty(_provider.Requests); // nothing was sent

        (status, error) = await PostAsync("""{"model":"z-model","input":"hi"}""");
        Assert.Equal((HttpStatusCode.NotFound, "model_not_served"), (status, error.GetProperty("code").GetString()));

        (status, error) = await PostAsync("""{"model":"o-model","input":"hi","previous_response_id":"resp_nothing"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("'resp_nothing' not found", error.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("o-cut")]
    [InlineData("r-cut")]
    public async Task A_stream_cut_before_its_end_fails_rather_than_completes_and_is_not_stored(string model)
    {
        await using var gateway = Gateway();
        var client = Responses(gateway);
        var (updates, final) = await StreamAsync(client, Ask(model, "hello"));
        Assert.IsType<StreamingResponseFailedUpdate>(updates[^1]);
        Assert.DoesNotContain(updates, u => u is StreamingResponseCompletedUpdate);
        Assert.Equal(ResponseStatus.Failed, final!.Status);
        Assert.NotNull(final.Error);
        var missing = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(final.Id));
        Assert.Equal(404, missing.Status);
    }

    [Fact]
    public void An_answer_cut_by_its_token_budget_is_an_incomplete_response()
    {
        var translator = new ResponsesApi().Answers(new TranslationContext("o-model", 3), new Microsoft.AspNetCore.Http.DefaultHttpContext());
        var answer = translator!.Answer(ChatShapes.Answer("chatcmpl-1", "o-model", 1, "partial", null, "length", 3, 10));
        Assert.Equal(("incomplete", "max_output_tokens"), ((string?)answer["status"], (string?)answer["incomplete_details"]!["reason"]));
        var result = ModelReaderWriter.Read<ResponseResult>(BinaryData.FromString(answer.ToJsonString()))!;
        Assert.Equal((ResponseStatus.Incomplete, "partial", 3, 10), (result.Status, result.GetOutputText(), result.Usage.InputTokenCount, result.Usage.OutputTokenCount));
    }

    // ---------- chat completions inbound, openai-responses upstream ----------

    [Fact]
    public async Task The_chat_sdk_gets_a_responses_providers_answer_stream_and_tool_call_as_chat_completions()
    {
        await using var gateway = Gateway();
        var chat = OpenAiChat(gateway, "r-model");
        ChatCompletion completion = await chat.CompleteChatAsync([new SystemChatMessage("be brief"), new UserChatMessage("hello")]);
        Assert.Equal("responses says: hello", completion.Content[0].Text);
        Assert.Equal((17, 3, 4), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount, completion.Usage.InputTokenDetails.CachedTokenCount));
        var (format, sent, _) = _provider.Requests.Last();
        Assert.Equal("responses", format);
        Assert.Equal(("be brief", false), ((string?)sent["instructions"], (bool?)sent["store"])); // system messages travel as instructions; the provider keeps nothing

        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hello")]))
        {
            streamed.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
            usage ??= update.Usage;
        }
        Assert.Equal("responses says: hello", streamed.ToString());
        Assert.Equal((17, 3), (usage?.InputTokenCount, usage?.OutputTokenCount)); // the SDK asks for the usage chunk; the Responses API has none to ask for
        Assert.Null(_provider.Requests.Last().Body["stream_options"]);

        var weather = ChatTool.CreateFunctionTool("weather", "The weather of a city.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""));
        var options = new ChatCompletionOptions { Tools = { weather } };
        List<OpenAI.Chat.ChatMessage> conversation = [new UserChatMessage("What is the weather?")];
        ChatCompletion call = await chat.CompleteChatAsync(conversation, options);
        Assert.Equal(ChatFinishReason.ToolCalls, call.FinishReason);
        var toolCall = call.ToolCalls.Single();
        Assert.Equal(("call_r1", "weather", "Paris"), (toolCall.Id, toolCall.FunctionName, JsonDocument.Parse(toolCall.FunctionArguments).RootElement.GetProperty("city").GetString()));
        Assert.Equal("weather", (string?)_provider.Requests.Last().Body["tools"]![0]!["name"]); // tools flattened
        conversation.Add(new AssistantChatMessage(call));
        conversation.Add(new ToolChatMessage(toolCall.Id, "sunny"));
        ChatCompletion final = await chat.CompleteChatAsync(conversation, options);
        Assert.Equal("responses says: sunny", final.Content[0].Text);
    }

    [Fact]
    public async Task A_streamed_tool_call_from_a_responses_provider_reaches_the_chat_sdk_in_pieces()
    {
        await using var gateway = Gateway();
        var weather = ChatTool.CreateFunctionTool("weather", "The weather of a city.", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""));
        var arguments = new List<string>();
        string? name = null;
        ChatFinishReason? finish = null;
        await foreach (var update in OpenAiChat(gateway, "r-model").CompleteChatStreamingAsync([new UserChatMessage("weather?")], new ChatCompletionOptions { Tools = { weather } }))
        {
            foreach (var piece in update.ToolCallUpdates)
            {
                name ??= piece.FunctionName;
                if (piece.FunctionArgumentsUpdate?.ToString() is { Length: > 0 } text)
                {
                    arguments.Add(text);
                }
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal(("weather", """{"city":"Paris"}""", 2, ChatFinishReason.ToolCalls), (name, string.Concat(arguments), arguments.Count, finish));
    }

    // ---------- stored responses ----------

    [Fact]
    public async Task A_stored_response_is_read_continued_and_deleted_by_its_tenant_only()
    {
        await using var gateway = Gateway();
        await StoredResponsesHoldAsync(gateway, "o-model", "openai");
    }

    [Fact]
    public async Task Stored_responses_are_kept_in_postgres_and_continued_from_a_streamed_turn()
    {
        var database = new PostgresFixture();
        await database.InitializeAsync();
        try
        {
            await using (var gateway = Gateway(("ConnectionStrings:gateway", database.ConnectionString)))
            {
                await StoredResponsesHoldAsync(gateway, "r-model", "responses");
                var (_, streamed) = await StreamAsync(Responses(gateway), Ask("a-model", "hello"));
                ResponseResult next = await Responses(gateway).CreateResponseAsync("a-model", "again", streamed!.Id);
                Assert.Equal("anthropic says: again", next.GetOutputText());
                var messages = _provider.Requests.Last().Body["messages"]!.AsArray();
                Assert.Equal(["user", "assistant", "user"], messages.Select(m => (string?)m!["role"]));
                Assert.Equal("anthropic says: hello", (string?)messages[1]!["content"]![0]!["text"]);
            }
            await using var connection = new Npgsql.NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync();
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM llm_responses WHERE tenant_id = 'tenant-a'", connection);
            Assert.Equal(3L, await count.ExecuteScalarAsync()); // the continued turn (its first was deleted, the store:false one never kept), the streamed turn and its continuation
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    /// <summary>Store, read, continue, another tenant, delete, store:false; <paramref name="upstream"/> answers "&lt;upstream&gt; says: …".</summary>
    private async Task StoredResponsesHoldAsync(GatewayFactory gateway, string model, string upstream)
    {
        var client = Responses(gateway);
        ResponseResult first = await client.CreateResponseAsync(new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem("hello")]) { Instructions = "be brief" });

        ResponseResult stored = await client.GetResponseAsync(first.Id);
        Assert.Equal((first.Id, $"{upstream} says: hello", first.Usage.OutputTokenCount), (stored.Id, stored.GetOutputText(), stored.Usage.OutputTokenCount));
        var asRead = await gateway.CreateClient(TestKeys.Reader).GetAsync($"/v1/responses/{first.Id}");
        Assert.Equal(HttpStatusCode.OK, asRead.StatusCode); // the read scope reads

        // Continued: the upstream gets the earlier turns (not the earlier instructions, which held for that response only).
        ResponseResult second = await client.CreateResponseAsync(model, "again", first.Id);
        Assert.Equal(($"{upstream} says: again", first.Id), (second.GetOutputText(), second.PreviousResponseId));
        var sent = _provider.Requests.Last().Body;
        var turns = upstream == "responses"
            ? sent["input"]!.AsArray().Select(i => $"{(string?)i!["role"]}:{FlatText(i["content"])}")
            : sent["messages"]!.AsArray().Select(m => $"{(string?)m!["role"]}:{FlatText(m["content"])}");
        Assert.Equal(["user:hello", $"assistant:{upstream} says: hello", "user:again"], turns);
        Assert.Null(sent["instructions"]);

        // Another tenant: not found, whether read, deleted or continued.
        var other = gateway.CreateClient(TestKeys.OtherWriter);
        var foreign = await other.GetAsync($"/v1/responses/{first.Id}");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal("not_found", (await foreign.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await other.DeleteAsync($"/v1/responses/{first.Id}")).StatusCode);
        var continued = await Assert.ThrowsAsync<ClientResultException>(() => Responses(gateway, TestKeys.OtherWriter).CreateResponseAsync(model, "mine?", first.Id));
        Assert.Equal(400, continued.Status);

        // Deleting takes the write scope.
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.CreateClient(TestKeys.Reader).DeleteAsync($"/v1/responses/{first.Id}")).StatusCode);
        ResponseDeletionResult deleted = await client.DeleteResponseAsync(first.Id);
        Assert.Equal((first.Id, true), (deleted.ResponseId, deleted.Deleted));
        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(first.Id))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.CreateClient(TestKeys.Writer).DeleteAsync($"/v1/responses/{first.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.CreateClient(TestKeys.Writer).GetAsync($"/v1/responses/{second.Id}")).StatusCode); // the rest of the conversation stays

        ResponseResult unstored = await client.CreateResponseAsync(new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem("hello")]) { StoredOutputEnabled = false });
        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(unstored.Id))).Status);
    }

    private static string FlatText(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Select(p => (string?)p?["text"])),
        _ => "",
    };

    [Fact]
    public async Task Stored_responses_are_gone_after_the_retention_and_swept()
    {
        await using var gateway = Gateway(("Llm:Responses:RetentionDays", "30"));
        var client = Responses(gateway);
        ResponseResult old = await client.CreateResponseAsync("o-model", "hello");
        gateway.Clock.Advance(TimeSpan.FromDays(20));
        ResponseResult recent = await client.CreateResponseAsync("o-model", "hello");
        gateway.Clock.Advance(TimeSpan.FromDays(11));

        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(old.Id))).Status);
        Assert.Equal(400, (await Assert.ThrowsAsync<ClientResultException>(() => client.CreateResponseAsync("o-model", "again", old.Id))).Status);
        Assert.Equal(recent.Id, (await client.GetResponseAsync(recent.Id)).Value.Id);
        var store = (InMemoryResponseStore)gateway.Services.GetRequiredService<IResponseStore>();
        await Eventually.WaitUntilAsync(() => store.Count == 1, "the sweep to delete the expired response", seconds: 10);
    }
}
