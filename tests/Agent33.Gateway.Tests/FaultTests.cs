using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;

namespace Agent33.Gateway.Tests;

/// <summary>Misbehaving upstreams on loopback: connections cut, calls that hang, services that flap, a learning service that is down.</summary>
/// <remarks>
/// Run alone: every gateway in the test process feeds every meter listener of the same meter name, and these tests
/// read process-wide counters (incident signals) and move a fake clock while waiting on background retries.
/// </remarks>
[Collection(AloneCollection.Name)]
public sealed class FaultTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static async Task<(HttpStatusCode Status, string? Code)> CallAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var code = await response.ProblemCodeIfAnyAsync();
        return (response.StatusCode, code);
    }

    [Fact]
    public async Task Connections_cut_without_an_answer_are_http_errors_retried_when_idempotent_and_they_open_the_circuit()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "tool:web_fetch", _upstream.Address, retries: 1));
        var client = gateway.CreateClient(TestKeys.Writer);

        var hits = _upstream.Hits;
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), await CallAsync(client, "/connectors/tool:web_fetch/reset"));
        Assert.Equal(hits + 2, _upstream.Hits); // a GET cut off is retried once
        await CallAsync(client, "/connectors/tool:web_fetch/reset");
        await CallAsync(client, "/connectors/tool:web_fetch/reset");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "circuit_open"), await CallAsync(client, "/connectors/tool:web_fetch/ok"));
    }

    [Fact]
    public async Task A_hanging_connector_never_starves_healthy_ones()
    {
        await using var gateway = new GatewayFactory(
        [
            .. GatewayFactory.Connector(0, "tool:hanging", _upstream.Address, more: [("TimeoutSeconds", "5"), ("Circuit:FailureThreshold", "1000")]),
            .. GatewayFactory.Connector(1, "tool:healthy", _upstream.Address),
        ]);
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallAsync(client, "/connectors/tool:healthy/ok"); // warm both paths' first-call costs out of the timing
        var clock = Stopwatch.StartNew();

        var hanging = Enumerable.Range(0, 200).Select(_ => CallAsync(client, "/connectors/tool:hanging/slow")).ToArray();
        var healthyLatencies = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var call = Stopwatch.StartNew();
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/tool:healthy/ok")).Status);
            healthyLatencies.Add(call.Elapsed.TotalMilliseconds);
        }
        // Starved calls would wait for the hanging ones' 5 s timeout; on 2 busy cores a healthy one may still take a moment.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), "the healthy calls finished only after the hanging ones gave up");
        Assert.True(healthyLatencies.Max() < 2000, $"a healthy call took {healthyLatencies.Max():F0} ms while another connector hung");

        var outcomes = await Task.WhenAll(hanging);
        Assert.All(outcomes, o => Assert.Equal((HttpStatusCode.GatewayTimeout, "timeout"), o));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"200 hanging calls took {clock.Elapsed.TotalSeconds:F1} s to time out at 5 s");
    }

    [Fact]
    public async Task A_flapping_upstream_posts_one_incident_per_opening_naming_the_connector()
    {
        await using var gateway = new GatewayFactory(
        [
            ("services:learning-service:http:0", _upstream.Address),
            .. GatewayFactory.Connector(0, "mcp:flapping", _upstream.Address),
            .. GatewayFactory.Connector(1, "tool:healthy", _upstream.Address),
        ]);
        var client = gateway.CreateClient(TestKeys.Writer);

        // Signals leave in the order the circuit opened, so once an opening's own signal (found by its time) has
        // arrived, any signal a re-trip had wrongly sent would have arrived before it.
        for (var round = 1; round <= 3; round++)
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal("http_error", (await CallAsync(client, "/connectors/mcp:flapping/status/500")).Code);
            }
            var openedAt = gateway.Clock.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal("circuit_open", (await CallAsync(client, "/connectors/mcp:flapping/ok")).Code); // open: no new incident
            }
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/tool:healthy/ok")).Status);
            // Before the clock moves: the signal's own timeouts run on the gateway's clock too.
            await Eventually.WaitUntilAsync(() => _upstream.Signals.Any(s => s.GetProperty("details").GetString()!.Contains(openedAt)),
                $"the incident signal of opening {round}", seconds: 20);
            Assert.Equal(round, _upstream.Signals.Count);
            if (round == 3)
            {
                break;
            }

            // Half-open, one failure: open again, still the same incident; then two successes close it.
            gateway.Clock.Advance(TimeSpan.FromMinutes(10));
            await CallAsync(client, "/connectors/mcp:flapping/status/500");
            gateway.Clock.Advance(TimeSpan.FromMinutes(10));
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/mcp:flapping/ok")).Status);
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, "/connectors/mcp:flapping/ok")).Status);
        }

        Assert.All(_upstream.Signals, signal =>
        {
            Assert.Equal("incident", signal.GetProperty("signal_type").GetString());
            Assert.Equal("mcp:flapping", signal.GetProperty("context").GetProperty("connector").GetString());
            Assert.Contains("mcp:flapping", signal.GetProperty("summary").GetString());
        });
    }

    [Fact]
    public async Task A_down_learning_service_never_slows_calls_and_each_lost_incident_is_counted()
    {
        // The factory points the learning service at a closed port.
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));
        var client = gateway.CreateClient(TestKeys.Writer);

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            await CallAsync(client, "/connectors/llm:test/status/500");
        }
        Assert.Equal("circuit_open", (await CallAsync(client, "/connectors/llm:test/ok")).Code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), "calls waited on the learning service");

        // The retry delays of the signal post run on the gateway's clock, which this test moves.
        await Eventually.WaitUntilAsync(async () =>
        {
            gateway.Clock.Advance(TimeSpan.FromSeconds(1));
            // (At least one: gateways of tests running beside this one feed the same meter.)
            return Sample(await gateway.CreateClient().GetStringAsync("/metrics"), "connector_incident_signal_failures_total") >= 1;
        }, "the lost incident signal to be counted", seconds: 20);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "runs alone";
}
