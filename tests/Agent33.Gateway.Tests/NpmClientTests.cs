using System.Text.Json.Nodes;
using Agent33.Testing;
using Xunit.Abstractions;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The npm LLM clients against the gateway running as a process on loopback (issue 28): the <c>openai</c> client over
/// chat completions, <c>@anthropic-ai/sdk</c> over Messages, and the Vercel AI SDK (<c>ai</c> with <c>@ai-sdk/openai</c>)
/// over chat completions and, once the gateway serves it, its default Responses API. Each script in
/// <c>npm/</c> makes a plain call, a streamed one, a tool round trip and a streamed tool call, and prints what it got;
/// every client reaches both upstream formats of the <see cref="FormatProvider"/>, whose fixed answers it must see
/// exactly. The packages are installed by the test itself (<see cref="NpmClients"/>), so CI needs only node and npm.
/// </summary>
[Trait("Category", "Npm")]
public sealed class NpmClientTests(NpmClientTests.Gateway gateway, ITestOutputHelper log) : IClassFixture<NpmClientTests.Gateway>
{
    /// <summary>One gateway process for the class: <c>o-*</c> served by an OpenAI chat connector, <c>a-*</c> by an Anthropic one.</summary>
    public sealed class Gateway : IAsyncLifetime
    {
        public FormatProvider Provider { get; private set; } = null!;

        public ServiceProcess Process { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            var install = NpmClients.EnsureInstalledAsync(); // beside the gateway's start
            Provider = await FormatProvider.StartAsync();
            Process = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ServiceApiKey"] = TestKeys.Service,
                ["RateLimiting:WritesPerSecond"] = "0",
                ["services:routing:http:0"] = "http://127.0.0.1:9",
                ["services:learning-service:http:0"] = "http://127.0.0.1:9",
                ["Connectors:0:Id"] = "llm:openai", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{Provider.Address}/openai/v1",
                ["Connectors:0:Models:0"] = "o-*", ["Connectors:0:ApiKey"] = "openai-secret",
                ["Connectors:1:Id"] = "llm:anthropic", ["Connectors:1:Kind"] = "llm", ["Connectors:1:Destination"] = $"{Provider.Address}/anthropic/v1",
                ["Connectors:1:Models:0"] = "a-*", ["Connectors:1:Format"] = "anthropic", ["Connectors:1:ApiKey"] = "anthropic-secret",
            });
            await install;
        }

        public async Task DisposeAsync()
        {
            Process?.Dispose();
            if (Provider is not null)
            {
                await Provider.DisposeAsync();
            }
        }
    }

    /// <summary>What each upstream answers: its name in the text, and the usage every client must see (Anthropic: 10 uncached + 3 cached input tokens).</summary>
    public static TheoryData<string, string, int, int> Upstreams => new()
    {
        { "o-model", "openai", 11, 7 },
        { "a-model", "anthropic", 13, 5 },
    };

    private static readonly JsonObject Paris = new() { ["city"] = "Paris" };

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_openai_npm_client_gets_an_answer_a_stream_and_a_tool_round_trip_over_chat_completions(string model, string upstream, int input, int output)
    {
        var got = await RunAsync("openai.mjs", model, upstream, calls: 5);
        AssertSame(new JsonObject
        {
            ["answer"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["finish"] = "stop", ["usage"] = new JsonArray(input, output) },
            ["stream"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["pieces"] = 3, ["finish"] = "stop", ["usage"] = new JsonArray(input, output) },
            ["tool"] = new JsonObject { ["finish"] = "tool_calls", ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["text"] = $"{upstream} says: sunny in Paris" },
            ["streamedTool"] = new JsonObject { ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["pieces"] = 2, ["finish"] = "tool_calls" },
        }, got);
    }

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_anthropic_npm_sdk_gets_a_message_a_stream_and_a_tool_round_trip_over_messages(string model, string upstream, int input, int output)
    {
        var got = await RunAsync("anthropic.mjs", model, upstream, calls: 5);
        AssertSame(new JsonObject
        {
            ["answer"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["finish"] = "end_turn", ["usage"] = new JsonArray(input, output) },
            ["stream"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["pieces"] = 3, ["finish"] = "end_turn", ["usage"] = new JsonArray(input, output) },
            ["tool"] = new JsonObject { ["finish"] = "tool_use", ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["text"] = $"{upstream} says: sunny in Paris" },
            ["streamedTool"] = new JsonObject { ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["pieces"] = 2, ["finish"] = "tool_use" },
        }, got);
    }

    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_ai_sdk_generates_streams_and_runs_a_tool_over_chat_completions(string model, string upstream, int input, int output) =>
        AssertAiSdk(await RunAsync("ai-sdk.mjs", model, upstream, calls: 6, "chat"), upstream, input, output);

    /// <summary><c>openai(model)</c>, the provider's default, posts to <c>/v1/responses</c>.</summary>
    [Theory]
    [MemberData(nameof(Upstreams))]
    public async Task The_ai_sdk_generates_streams_and_runs_a_tool_over_its_default_responses_api(string model, string upstream, int input, int output) =>
        AssertAiSdk(await RunAsync("ai-sdk.mjs", model, upstream, calls: 6, "responses"), upstream, input, output);

    private static void AssertAiSdk(JsonObject got, string upstream, int input, int output) => AssertSame(new JsonObject
    {
        ["answer"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["finish"] = "stop", ["usage"] = new JsonArray(input, output) },
        ["stream"] = new JsonObject { ["text"] = $"{upstream} says: hello", ["pieces"] = 3, ["finish"] = "stop", ["usage"] = new JsonArray(input, output) },
        ["tool"] = new JsonObject { ["steps"] = 2, ["finish"] = "tool-calls", ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["text"] = $"{upstream} says: sunny in Paris" },
        ["streamedTool"] = new JsonObject { ["steps"] = 2, ["name"] = "weather", ["arguments"] = Paris.DeepClone(), ["calls"] = 1, ["text"] = $"{upstream} says: sunny in Paris" },
    }, got);

    /// <summary>Runs the script and checks that its <paramref name="calls"/> calls all reached <paramref name="upstream"/>'s format.</summary>
    private async Task<JsonObject> RunAsync(string script, string model, string upstream, int calls, params string[] more)
    {
        var before = gateway.Provider.Requests.Count;
        var got = await NpmClients.RunScriptAsync(script, gateway.Process, TestKeys.Writer, model, more);
        log.WriteLine($"node {script} {model} {string.Join(' ', more)}: {got.ToJsonString()}");
        var sent = gateway.Provider.Requests.Skip(before).Select(r => r.Format).ToList();
        Assert.Equal(Enumerable.Repeat(upstream, calls), sent);
        return got;
    }

    private static void AssertSame(JsonObject expected, JsonObject got) =>
        Assert.True(JsonNode.DeepEquals(expected, got), $"expected {expected.ToJsonString()}\n     got {got.ToJsonString()}");
}
