using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Agent33.Gateway.Boundary;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// A caller's fault never moves shared state: a request no upstream request can carry, a caller's own short timeout
/// or a malformed model name is answered and counted as <c>caller_error</c>, never retried and never recorded by the
/// connector's breaker, so one tenant cannot open a circuit for every other.
/// </summary>
public sealed class CallerFaultTests : IAsyncLifetime
{
    private readonly string _id = $"tool:{Guid.NewGuid():N}";
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private GatewayFactory Gateway(params (string Key, string Value)[] more) =>
        new([.. GatewayFactory.Connector(0, _id, _upstream.Address, retries: 2), .. more]);

    private static async Task<JsonElement> CircuitAsync(GatewayFactory gateway, string id) =>
        (await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>($"/v1/connectors/{id}"))!;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_header_no_upstream_request_can_carry_is_the_callers_fault_and_never_opens_the_circuit(bool fastPath)
    {
        await using var gateway = Gateway(("Gateway:FastPath", fastPath ? "true" : "false"));
        var attacker = gateway.CreateClient(TestKeys.Writer);
        foreach (var value in new[] { "\u00c3\u00a9", "caf\u00e9", "a\u0001b", "x\u2028y" })
        {
            for (var i = 0; i < 3; i++)
            {
                var answer = await CallAsync(attacker, $"/connectors/{_id}/ok", headers: ("X-Foo", value));
                Assert.Equal((HttpStatusCode.BadRequest, "invalid_header"), (answer.Status, answer.Code));
            }
        }

        Assert.Equal(0, _upstream.Hits); // refused before any attempt, so none was retried
        var connector = await CircuitAsync(gateway, _id);
        Assert.Equal("closed", connector.GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(0, connector.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32());
        Assert.Equal(12, connector.GetProperty("metrics").GetProperty("caller_errors").GetInt64());
        Assert.Equal(0, connector.GetProperty("metrics").GetProperty("failures").GetInt64());
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(gateway.CreateClient(TestKeys.OtherWriter), $"/connectors/{_id}/ok")).Status);
        Assert.Equal(12, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "caller_error")));
        Assert.Equal(0, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "failure")));
    }

    [Fact]
    public async Task A_callers_own_short_timeout_is_answered_504_but_never_retried_nor_counted_against_the_upstream()
    {
        await using var gateway = Gateway();
        var caller = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 4; i++)
        {
            var answer = await CallAsync(caller, $"/connectors/{_id}/slow", headers: ("X-Connector-Timeout", "0.05"));
            Assert.Equal((HttpStatusCode.GatewayTimeout, "timeout"), (answer.Status, answer.Code));
        }

        // At most one attempt each: the caller's choice is not retried (a loaded machine may time out before connecting).
        Assert.InRange(_upstream.Hits, 0, 4);
        var connector = await CircuitAsync(gateway, _id);
        Assert.Equal("closed", connector.GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(0, connector.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32());
        Assert.Equal(4, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "caller_error")));
        Assert.Equal(0, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "timeout")));
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(gateway.CreateClient(TestKeys.OtherWriter), $"/connectors/{_id}/ok")).Status);
    }

    [Fact]
    public async Task The_connectors_own_timeout_still_counts_against_the_upstream()
    {
        await using var gateway = new GatewayFactory([.. GatewayFactory.Connector(0, _id, _upstream.Address, more: [("TimeoutSeconds", "0.05")])]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{_id}/slow")).Status);
        }
        Assert.Equal("open", (await CircuitAsync(gateway, _id)).GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(3, Sample(await ScrapeAsync(gateway), "connector_calls_total", ("connector", _id), ("outcome", "timeout")));
    }

    [Fact]
    public async Task A_caller_who_leaves_is_counted_client_cancelled_and_not_against_the_upstream()
    {
        // A real Kestrel: it tells the gateway at once that the caller went away.
        using var gateway = await ServiceProcess.StartAsync("Agent33.Gateway", new Dictionary<string, string>(TestKeys.Settings())
        {
            ["services:learning-service:http:0"] = "http://127.0.0.1:9",
            ["Connectors:0:Id"] = _id, ["Connectors:0:Kind"] = "http", ["Connectors:0:Destination"] = _upstream.Address,
        });
        for (var i = 0; i < 3; i++)
        {
            // The caller leaves once its call has reached the upstream (a fixed delay may end before a loaded machine sends it).
            using var leaving = new CancellationTokenSource();
            var hits = _upstream.Hits;
            var call = gateway.CreateClient(TestKeys.Writer).GetAsync($"/connectors/{_id}/slow", leaving.Token);
            await Eventually.WaitUntilAsync(() => _upstream.Hits > hits, "the call to reach the upstream", seconds: 20);
            await leaving.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }

        var reader = gateway.CreateClient(TestKeys.Reader);
        await Eventually.WaitUntilAsync(async () =>
            (await reader.GetFromJsonAsync<JsonElement>($"/v1/connectors/{_id}")).GetProperty("metrics").GetProperty("client_cancelled").GetInt64() == 3,
            "three calls counted as client_cancelled", seconds: 10);
        var connector = await reader.GetFromJsonAsync<JsonElement>($"/v1/connectors/{_id}");
        Assert.Equal(0, connector.GetProperty("circuit").GetProperty("consecutive_failures").GetInt32());
        Assert.Equal(0, connector.GetProperty("metrics").GetProperty("total_calls").GetInt64());
        var metrics = await gateway.CreateClient(null).GetStringAsync("/metrics");
        Assert.Equal(3, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", "client_cancelled")));
        Assert.Equal(0, Sample(metrics, "connector_calls_total", ("connector", _id), ("outcome", "failure")));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    public async Task An_answer_over_the_hold_limit_is_reported_with_the_status_the_upstream_sent(int status)
    {
        await using var gateway = new GatewayFactory([.. GatewayFactory.Connector(0, _id, _upstream.Address), ("Governance:MaxHeldResponseBytes", "65536")]);
        var answer = await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{_id}/big/{status}?mb=1");
        Assert.Equal((HttpStatusCode.BadGateway, "http_error"), (answer.Status, answer.Code));
        Assert.Contains($"answered {status} with more than 65536 bytes", await answer.Response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void A_request_the_http_client_refuses_is_the_callers_fault_and_a_broken_connection_the_upstreams()
    {
        Assert.True(ForwardFaults.IsUnsendableRequest(new HttpRequestException("Request headers must contain only ASCII characters.")));
        Assert.True(ForwardFaults.IsUnsendableRequest(new FormatException("bad header")));
        Assert.False(ForwardFaults.IsUnsendableRequest(new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException(111))));
        Assert.False(ForwardFaults.IsUnsendableRequest(new HttpRequestException("reset", new IOException("reset by peer"))));
        Assert.False(ForwardFaults.IsUnsendableRequest(new HttpRequestException(HttpRequestError.ResponseEnded, "ended")));
        Assert.False(ForwardFaults.IsUnsendableRequest(null));
    }
}
