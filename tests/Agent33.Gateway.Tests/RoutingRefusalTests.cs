using System.Net;
using System.Text;
using Agent33.Testing;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// A gateway the routing service refuses (no <c>ServiceApiKey</c>, or a key without the service scope) still answers
/// every <c>model: "auto"</c> call with <c>Llm:DefaultModel</c>, but no longer silently: the start-up log names the
/// missing setting, each refused decision is counted in <c>llm_routing_failures_total{reason}</c>, and the refusal is
/// logged at error once a minute, not once a call. Both services run as processes, as deployed.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class RoutingRefusalTests : IAsyncLifetime
{
    private LlmProvider _provider = null!;
    private ServiceProcess _routing = null!;

    public async Task InitializeAsync()
    {
        _provider = await LlmProvider.StartAsync();
        _routing = await ServiceProcess.StartAsync("Agent33.Routing", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:learning-service:http:0"] = "http://127.0.0.1:9",
            ["Routing:Models:Low"] = "routed-model", // "hi" is a simple message: low effort
        });
    }

    public async Task DisposeAsync()
    {
        _routing.Dispose();
        await _provider.DisposeAsync();
    }

    [Theory]
    [InlineData(null, TestKeys.Writer, "unauthorized", 401)]               // no ServiceApiKey: routing answers 401
    [InlineData(TestKeys.Writer, TestKeys.OtherWriter, "forbidden", 403)]  // a key without the service scope, naming another tenant: 403
    public async Task A_refused_decision_takes_the_default_model_is_counted_and_logged_once_a_minute(
        string? serviceKey, string caller, string reason, int status)
    {
        var settings = new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:routing:http:0"] = _routing.BaseAddress.ToString().TrimEnd('/'),
            ["Llm:DefaultModel"] = "fallback-model",
            ["Connectors:0:Id"] = "llm:main", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/ok/v1",
            ["Connectors:0:Models:0"] = "*-model",
        };
        if (serviceKey is not null)
        {
            settings["ServiceApiKey"] = serviceKey;
        }
        using var gateway = await ServiceProcess.StartAsync("Agent33.Gateway", settings);
        const string StartupError = "ServiceApiKey is not set, but llm connectors are configured (llm:main)";
        if (serviceKey is null)
        {
            await Eventually.WaitUntilAsync(() => gateway.Output.Contains(StartupError, StringComparison.Ordinal), "the start-up error naming ServiceApiKey", seconds: 10);
        }
        else
        {
            Assert.DoesNotContain(StartupError, gateway.Output); // a key is set: routing refuses it, which the start-up cannot know
        }

        using var client = gateway.CreateClient(caller);
        for (var i = 0; i < 3; i++)
        {
            using var body = new StringContent("""{"model":"auto","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
            using var response = await client.PostAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("fallback-model", response.Headers.GetValues("X-Agent33-Model").Single());
        }

        var metrics = await gateway.CreateClient(key: null).GetStringAsync("/metrics");
        Assert.Equal(3, Sample(metrics, "llm_routing_failures_total", ("reason", reason)));
        Assert.Equal(0, Sample(metrics, "llm_routing_failures_total", ("reason", "unavailable")));
        await Eventually.WaitUntilAsync(() => gateway.Output.Contains($"The routing service refused the gateway ({status} on /v1/routing/decisions)", StringComparison.Ordinal),
            "the refusal's error line", seconds: 10);
        Assert.Equal(1, Occurrences(gateway.Output, "The routing service refused the gateway")); // three refusals, one line
    }

    [Fact]
    public async Task A_gateway_with_the_service_key_gets_its_decisions_and_logs_no_refusal()
    {
        using var gateway = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["ServiceApiKey"] = TestKeys.Service,
            ["services:routing:http:0"] = _routing.BaseAddress.ToString().TrimEnd('/'),
            ["Llm:DefaultModel"] = "fallback-model",
            ["Connectors:0:Id"] = "llm:main", ["Connectors:0:Kind"] = "llm", ["Connectors:0:Destination"] = $"{_provider.Address}/ok/v1",
            ["Connectors:0:Models:0"] = "*-model",
        });
        using var body = new StringContent("""{"model":"auto","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        using var response = await gateway.CreateClient(TestKeys.Writer).PostAsync("/v1/chat/completions", body);
        Assert.Equal("routed-model", response.Headers.GetValues("X-Agent33-Model").Single());
        var metrics = await gateway.CreateClient(key: null).GetStringAsync("/metrics");
        Assert.Equal(0, Sample(metrics, "llm_routing_failures_total", ("reason", "unauthorized")));
        Assert.DoesNotContain("ServiceApiKey", gateway.Output);
    }

    private static int Occurrences(string text, string part) =>
        (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;
}
