using System.Text.Json.Nodes;
using Agent33.Testing;
using Xunit.Abstractions;

namespace Agent33.Gateway.Tests;

/// <summary>
/// <c>/mcp</c> with the npm MCP clients, the gateway running as a process on loopback: the official TypeScript SDK
/// (<c>npm/mcp.mjs</c>) and the MCP Inspector's CLI (<c>@modelcontextprotocol/inspector --cli</c>), over three
/// <c>mcp</c> connectors — two <c>@modelcontextprotocol/server-everything</c> servers in their Streamable HTTP mode
/// (<c>npm/everything.mjs</c>) and the tests' C# <see cref="Upstream"/> server. <c>mcp:everything-a</c> denies
/// <c>get-env</c> (a tool that answers with the server's environment), <c>mcp:everything-b</c> denies nothing.
/// </summary>
[Trait("Category", "Npm")]
public sealed class McpNpmClientTests(McpNpmClientTests.Gateway gateway, ITestOutputHelper log) : IClassFixture<McpNpmClientTests.Gateway>
{
    private const string Denied = "get-env";

    /// <summary>
    /// The tools every server-everything lists to a client that offers no roots, sampling or elicitation (as the
    /// gateway's own client of each connector): its fixed ones and <c>simulate-research-query</c>, which needs none.
    /// </summary>
    private static readonly string[] EverythingTools =
    [
        "echo", "get-annotated-message", "get-env", "get-resource-links", "get-resource-reference", "get-structured-content",
        "get-sum", "get-tiny-image", "gzip-file-as-resource", "simulate-research-query", "toggle-simulated-logging",
        "toggle-subscriber-updates", "trigger-long-running-operation",
    ];

    /// <summary>One gateway process for the class over two server-everything processes and one C# MCP server.</summary>
    public sealed class Gateway : IAsyncLifetime
    {
        internal NpmClients.NodeServer EverythingA { get; private set; } = null!;

        internal NpmClients.NodeServer EverythingB { get; private set; } = null!;

        public Upstream Tools { get; private set; } = null!;

        public ServiceProcess Process { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Tools = await Upstream.StartAsync();
            var everything = new Dictionary<string, string> { ["PORT"] = "0" }; // everything.mjs says which port it got
            var a = NpmClients.StartServerAsync("everything.mjs", everything);
            var b = NpmClients.StartServerAsync("everything.mjs", everything);
            EverythingA = await a;
            EverythingB = await b;
            Process = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
            {
                ["ServiceApiKey"] = TestKeys.Service,
                ["RateLimiting:WritesPerSecond"] = "0",
                ["services:routing:http:0"] = "http://127.0.0.1:9",
                ["services:learning-service:http:0"] = "http://127.0.0.1:9",
                ["Connectors:0:Id"] = "mcp:everything-a", ["Connectors:0:Kind"] = "mcp", ["Connectors:0:Destination"] = $"{EverythingA.Address}/mcp",
                ["Connectors:0:Tools:Deny:0"] = Denied,
                ["Connectors:1:Id"] = "mcp:everything-b", ["Connectors:1:Kind"] = "mcp", ["Connectors:1:Destination"] = $"{EverythingB.Address}/mcp",
                ["Connectors:2:Id"] = "mcp:tools", ["Connectors:2:Kind"] = "mcp", ["Connectors:2:Destination"] = $"{Tools.Address}/mcp",
            });
        }

        public async Task DisposeAsync()
        {
            Process?.Dispose();
            EverythingA?.Dispose();
            EverythingB?.Dispose();
            if (Tools is not null)
            {
                await Tools.DisposeAsync();
            }
        }

        /// <summary>What the processes wrote, for a failure's message.</summary>
        public string Logs =>
            $"\nThe gateway's log:\n{Process.Output}\neverything-a's log:\n{EverythingA.Output}\neverything-b's log:\n{EverythingB.Output}";
    }

    private string Url => $"{gateway.Process.BaseAddress.ToString().TrimEnd('/')}/mcp";

    [Fact]
    public async Task The_typescript_sdk_lists_every_connectors_tools_calls_them_with_progress_reads_resources_and_prompts_and_ends_its_session()
    {
        var got = await NpmClients.RunScriptAsync("mcp.mjs", gateway.Process, TestKeys.Writer, "tour");
        log.WriteLine($"node mcp.mjs tour: {got.ToJsonString()}");

        Assert.Equal(new JsonObject { ["id"] = true, ["server"] = "agent33-gateway" }.ToJsonString(), got["session"]!.ToJsonString());
        string[] expected =
        [
            .. EverythingTools.Where(t => t != Denied).Select(t => $"mcp:everything-a__{t}"),
            .. EverythingTools.Select(t => $"mcp:everything-b__{t}"),
            "mcp:tools__delete_records", "mcp:tools__search_docs", "mcp:tools__slow_report",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Strings(got["tools"]));

        Assert.Equal("Echo: hello through the gateway", (string?)got["echo"]!["text"]);
        Assert.False((bool)got["echo"]!["isError"]!);

        var longCall = got["long"]!;
        Assert.Equal("Long running operation completed. Duration: 1 seconds, Steps: 4.", (string?)longCall["text"]);
        // Progress in order, of 4 steps; that every step arrives before the result is the skipped test below.
        var progress = longCall["progress"]!.AsArray().Select(p => ((int)p![0]!, (int)p[1]!)).ToList();
        Assert.NotEmpty(progress);
        Assert.Equal(Enumerable.Range(1, progress.Count).Select(i => (i, 4)), progress);

        Assert.Equal("found breakers", (string?)got["search"]);

        var resources = got["resources"]!;
        Assert.True((int)resources["everythingA"]! > 0, resources.ToJsonString());
        Assert.Equal((int)resources["everythingA"]!, (int)resources["everythingB"]!);
        Assert.Empty(resources["unprefixed"]!.AsArray());
        Assert.Equal("mcp:everything-a__demo://resource/static/document/features.md", (string?)resources["read"]);
        var contents = Assert.Single(resources["readContents"]!.AsArray())!;
        Assert.Equal("text/markdown", (string?)contents["mimeType"]);
        Assert.True((bool)contents["hasText"]!);

        string[] prompts = ["args-prompt", "completable-prompt", "resource-prompt", "simple-prompt"];
        Assert.Equal(
            prompts.SelectMany(p => new[] { $"mcp:everything-a__{p}", $"mcp:everything-b__{p}" }).Order(StringComparer.Ordinal),
            Strings(got["prompts"]));
        Assert.Equal(["This is a simple prompt without arguments."], Strings(got["prompt"]));

        Assert.True((bool)got["ended"]!);
    }

    [Fact]
    public async Task A_tool_its_connector_denies_is_not_listed_to_the_typescript_sdk_and_calling_it_is_refused_by_governance()
    {
        var got = await NpmClients.RunScriptAsync("mcp.mjs", gateway.Process, TestKeys.Writer, "refused", $"mcp:everything-a__{Denied}");
        log.WriteLine($"node mcp.mjs refused: {got.ToJsonString()}");

        Assert.False((bool)got["listed"]!);
        Assert.Contains($"mcp:everything-b__{Denied}", Strings(got["tools"])); // the other connector denies nothing
        var answer = got["answer"]!;
        Assert.True(answer["thrown"] is not null, $"the call was answered: {answer.ToJsonString()}");
        Assert.Contains("governance_blocked", (string?)answer["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_progress_notification_of_a_long_call_reaches_the_typescript_sdk_before_its_result()
    {
        const int calls = 8;
        var got = await NpmClients.RunScriptAsync("mcp.mjs", gateway.Process, TestKeys.Writer, "progress", calls.ToString(System.Globalization.CultureInfo.InvariantCulture));
        log.WriteLine($"node mcp.mjs progress: {got.ToJsonString()}");

        Assert.Equal(
            Enumerable.Repeat("[1,2,3,4]", calls),
            got["calls"]!.AsArray().Select(c => c!.ToJsonString()));
        Assert.Empty(got["errors"]!.AsArray());
    }

    [Fact]
    public async Task The_inspector_cli_lists_the_tools_of_every_connector()
    {
        var got = await InspectAsync("--method", "tools/list");

        var names = got["tools"]!.AsArray().Select(t => (string)t!["name"]!).ToList();
        Assert.Contains("mcp:everything-a__echo", names);
        Assert.Contains("mcp:everything-b__echo", names);
        Assert.Contains("mcp:tools__search_docs", names);
        Assert.DoesNotContain($"mcp:everything-a__{Denied}", names);
        Assert.Equal((EverythingTools.Length * 2) - 1 + 3, names.Count);
    }

    [Fact]
    public async Task The_inspector_cli_calls_a_tool_through_its_connector()
    {
        var got = await InspectAsync("--method", "tools/call", "--tool-name", "mcp:everything-b__echo", "--tool-arg", "message=from the inspector");

        var text = Assert.Single(got["content"]!.AsArray())!;
        Assert.Equal("text", (string?)text["type"]);
        Assert.Equal("Echo: from the inspector", (string?)text["text"]);
    }

    /// <summary>
    /// <c>mcp-inspector --cli &lt;url&gt; --transport http --header "Authorization: Bearer …" …</c>, which prints
    /// the answer as JSON; a failure throws with what it wrote and the processes' logs.
    /// </summary>
    private async Task<JsonObject> InspectAsync(params string[] method)
    {
        string[] arguments =
        [
            "node_modules/@modelcontextprotocol/inspector/cli/build/cli.js", "--cli", Url, "--transport", "http",
            "--header", $"Authorization: Bearer {TestKeys.Writer}", .. method,
        ];
        var result = await NpmClients.RunNodeAsync(arguments);
        log.WriteLine($"inspector {string.Join(' ', method)}: exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        var start = result.Stdout.IndexOf('{', StringComparison.Ordinal);
        if (result.ExitCode != 0 || start < 0)
        {
            throw new InvalidOperationException($"the inspector exited with {result.ExitCode}:\n{result.Stderr}{result.Stdout}{gateway.Logs}");
        }
        return (JsonObject)JsonNode.Parse(result.Stdout[start..])!;
    }

    private static List<string> Strings(JsonNode? array) => [.. array!.AsArray().Select(n => (string)n!)];
}
