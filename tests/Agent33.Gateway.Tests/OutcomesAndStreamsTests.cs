using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Testing;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The contract's "Streams, timeouts and telemetry": each call ends in one outcome that the breaker, the monitoring
/// API and the metrics all see; streams outlive the total timeout; the metrics are bounded and present from start-up.
/// </summary>
public sealed class OutcomesAndStreamsTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    // Every gateway in this process feeds every meter listener of the same meter name, so each test's connectors
    // have ids of their own: tests running beside it cannot change its counts.
    private readonly string _id = $"llm:{Guid.NewGuid():N}";
    private readonly string _mcpId = $"mcp:{Guid.NewGuid():N}";

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task A_timeout_is_a_failure_for_the_breaker_the_monitoring_api_and_the_metrics()
    {
        // The connector's own timeout: a caller's shorter X-Connector-Timeout is the caller's choice (CallerFaultTests).
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address, more: [("TimeoutSeconds", "0.2")]));
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 3; i++)
        {
            var (status, code, _) = await CallAsync(client, $"/connectors/{_id}/slow");
            Assert.Equal((HttpStatusCode.GatewayTimeout, "timeout"), (status, code));
        }

        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/connectors/{_id}");
        Assert.Equal("open", view.GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(1, view.GetProperty("circuit").GetProperty("total_trips").GetInt32());
        Assert.Equal(0, view.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32()); // zeroed on trip, as the reference
        Assert.Equal(3, view.GetProperty("metrics").GetProperty("failures").GetInt64());
        Assert.Equal(0.0, view.GetProperty("metrics").GetProperty("success_rate").GetDouble());

        Assert.Equal("circuit_open", (await CallAsync(client, $"/connectors/{_id}/ok")).Code);
        var metrics = await ScrapeAsync(gateway); // (the exporter caches a scrape for 300 ms: one scrape per test)
        Assert.Equal(3, Sample(metrics, "connector_calls_total", ("connector", _id), ("operation", "GET"), ("outcome", "timeout")));
        Assert.Equal(1, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", "circuit_open")));
    }

    [Fact]
    public async Task Each_outcome_is_counted_once_under_its_own_name()
    {
        await using var gateway = new GatewayFactory([
            .. GatewayFactory.Connector(0, _id, _upstream.Address),
            ("Governance:BlockedOperations:0", "DELETE"),
        ]);
        var client = gateway.CreateClient(TestKeys.Writer);
        await CallAsync(client, $"/connectors/{_id}/ok");
        await CallAsync(client, $"/connectors/{_id}/status/404");
        await CallAsync(client, $"/connectors/{_id}/status/500");
        await CallAsync(client, $"/connectors/{_id}/ok", HttpMethod.Delete);

        var metrics = await ScrapeAsync(gateway);
        foreach (var outcome in new[] { "success", "client_error", "failure", "governance_blocked" })
        {
            Assert.Equal(1, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", outcome)));
        }
        Assert.Equal(0, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", "timeout")));
    }

    [Fact]
    public async Task Latency_buckets_are_in_seconds_from_a_millisecond_to_a_minute()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{_id}/ok");
        var elapsed = clock.Elapsed.TotalSeconds;
        var metrics = await ScrapeAsync(gateway);
        var bounds = LabelValues(metrics, "connector_call_duration_seconds_bucket", "le");
        Assert.Contains("0.001", bounds);
        Assert.Contains("0.25", bounds);
        Assert.Contains("60", bounds);
        Assert.DoesNotContain("10000", bounds);
        // The recorded duration is in seconds: no more than the caller waited (in milliseconds it would be ~1000× that).
        var recorded = Sample(metrics, "connector_call_duration_seconds_sum", ("connector", _id));
        Assert.InRange(recorded!.Value, double.Epsilon, elapsed);
    }

    [Fact]
    public async Task An_event_stream_outlives_the_total_timeout_and_arrives_as_it_is_sent()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address, more: [("TimeoutSeconds", "1")]));
        var client = gateway.CreateClient(TestKeys.Writer);
        var clock = Stopwatch.StartNew();
        using var response = await client.GetAsync($"/connectors/{_id}/events?count=12&ms=200", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<(string Data, TimeSpan At)>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((line[6..], clock.Elapsed));
            }
        }
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i.ToString()), events.Select(e => e.Data));
        Assert.True(events[^1].At > TimeSpan.FromSeconds(2), "the stream ran past the 1 s timeout");
        Assert.True(events[0].At < events[^1].At - TimeSpan.FromSeconds(1.5), "the first event came as it was sent, not with the last");
        Assert.Equal(1, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "success")));
    }

    [Fact]
    public async Task A_stream_silent_for_longer_than_its_idle_timeout_is_cut_and_counted_as_a_timeout()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address,
            more: [("TimeoutSeconds", "1"), ("StreamIdleTimeoutSeconds", "0.5")]));
        var client = gateway.CreateClient(TestKeys.Writer);
        using var response = await client.GetAsync($"/connectors/{_id}/events?count=3&ms=1500", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(async () => await (await response.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null));
        await Eventually.WaitUntilAsync(async () =>
            Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "timeout")) == 1, "the idle stream counted as a timeout", seconds: 10);
    }

    [Fact]
    public async Task The_official_mcp_client_gets_a_tool_result_that_streams_progress_for_longer_than_the_timeout()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _mcpId, $"{_upstream.Address}/mcp", kind: "mcp", more: [("TimeoutSeconds", "1")]));
        await using var client = await gateway.CreateClient().ConnectMcpAsync($"/connectors/{_mcpId}");

        var progress = new List<ProgressNotificationValue>();
        var result = await client.CallToolAsync("slow_report", new Dictionary<string, object?> { ["seconds"] = 2.5 },
            new SynchronousProgress(progress));

        Assert.NotEqual(true, result.IsError);
        Assert.Contains("report ready after 2.5 s", string.Join(' ', result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text)));
        Assert.True(progress.Count >= 10, $"{progress.Count} progress notifications");
    }

    private sealed class SynchronousProgress(List<ProgressNotificationValue> seen) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value)
        {
            lock (seen)
            {
                seen.Add(value);
            }
        }
    }

    [Fact]
    public async Task Operation_labels_stay_bounded_whatever_callers_send()
    {
        await using var gateway = new GatewayFactory([
            .. GatewayFactory.Connector(0, _id, _upstream.Address, more: [("Operations:0", "search")]),
            .. GatewayFactory.Connector(1, _mcpId, $"{_upstream.Address}/mcp", kind: "mcp"),
        ]);
        var client = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 30; i++)
        {
            await CallAsync(client, $"/connectors/{_id}/ok", headers: ("X-Connector-Operation", $"random-{Guid.NewGuid():N}"));
            using var body = new StringContent($$"""{"jsonrpc":"2.0","id":{{i}},"method":"x/{{Guid.NewGuid():N}}"}""", Encoding.UTF8, "application/json");
            await CallAsync(client, $"/connectors/{_mcpId}", HttpMethod.Post, body, ("Accept", "application/json, text/event-stream"));
        }
        await CallAsync(client, $"/connectors/{_id}/ok", headers: ("X-Connector-Operation", "SEARCH"));

        var metrics = await ScrapeAsync(gateway);
        var operations = LabelValues(metrics, "connector_calls_total", "operation");
        Assert.DoesNotContain(operations, o => o.StartsWith("random-", StringComparison.Ordinal) || o.StartsWith("x/", StringComparison.Ordinal));
        Assert.Equal(30, Sample(metrics, "connector_calls_total", ("connector", _id), ("operation", "other")));
        Assert.Equal(30, Sample(metrics, "connector_calls_total", ("connector", _mcpId), ("operation", "other")));
        Assert.Equal(1, Sample(metrics, "connector_calls_total", ("connector", _id), ("operation", "search"), ("outcome", "success")));
    }

    [Fact]
    public async Task A_refused_batch_counts_a_denial_only_for_its_denied_elements()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _mcpId, $"{_upstream.Address}/mcp", kind: "mcp", more: [("Tools:Deny:0", "delete_*")]));
        using var body = new StringContent("""
            [{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_records","arguments":{}}}]
            """, Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Forbidden, (await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{_mcpId}", HttpMethod.Post, body)).Status);

        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(1, Sample(metrics, "connector_governance_denials_total", ("connector", _mcpId), ("operation", "tools/call")));
        Assert.Null(Sample(metrics, "connector_governance_denials_total", ("connector", _mcpId), ("operation", "ping")));
    }

    [Fact]
    public async Task Every_connectors_series_exist_at_zero_from_start_up()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address));
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(0, Sample(metrics, "connector_retries_total", ("connector", _id)));
        Assert.Equal(0, Sample(metrics, "connector_circuit_transitions_total", ("connector", _id), ("from", "closed"), ("to", "open")));
        Assert.Equal(0, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", "timeout")));
        Assert.Equal(0, Sample(metrics, "connector_governance_denials_total", ("connector", _id)));
        Assert.Equal(0, Sample(metrics, "connector_circuit_state", ("connector", _id)));
    }

    [Fact]
    public async Task An_unused_connector_reports_a_success_rate_of_zero()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, _id, _upstream.Address));
        var view = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>($"/v1/connectors/{_id}");
        Assert.Equal(0.0, view.GetProperty("metrics").GetProperty("success_rate").GetDouble());
    }
}
