using System.Net;
using Agent33.Testing;

using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// <c>X-Connector-Id</c> on every proxied answer, whatever its status: a caller tells an upstream's 401 from the
/// gateway's own by it (the gateway's own 401 has none; its own errors are problem+json with a code).
/// </summary>
public sealed class ConnectorIdHeaderTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static string? ConnectorId(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Connector-Id", out var values) ? string.Join(" | ", values) : null;

    [Theory]
    [InlineData("/ok/models", HttpStatusCode.OK)]
    [InlineData("/status/401", HttpStatusCode.Unauthorized)]
    [InlineData("/status/404", HttpStatusCode.NotFound)]
    [InlineData("/status/429", HttpStatusCode.TooManyRequests)]
    public async Task A_proxied_answer_names_its_connector_whatever_its_status(string path, HttpStatusCode status)
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));

        var (actual, code, response) = await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/llm:test{path}");

        Assert.Equal(status, actual);
        Assert.Null(code); // the upstream's answer, not a gateway problem
        Assert.Equal("llm:test", ConnectorId(response));
    }

    [Fact]
    public async Task The_gateways_own_401_carries_no_connector_id_and_an_upstreams_does()
    {
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address));

        var (ownStatus, ownCode, own) = await CallAsync(gateway.CreateClient("not-a-key"), "/connectors/llm:test/ok");
        var (upstreamStatus, upstreamCode, upstream) = await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/llm:test/status/401");

        Assert.Equal((HttpStatusCode.Unauthorized, "unauthenticated", null), (ownStatus, ownCode, ConnectorId(own)));
        Assert.Equal((HttpStatusCode.Unauthorized, null, "llm:test"), (upstreamStatus, upstreamCode, ConnectorId(upstream)));
    }

    [Fact]
    public async Task A_retried_call_has_one_value_and_an_upstream_cannot_name_another_connector()
    {
        _upstream.FailuresBeforeSuccess = 1;
        await using var gateway = new GatewayFactory(GatewayFactory.Connector(0, "llm:test", _upstream.Address, retries: 2));
        var client = gateway.CreateClient(TestKeys.Writer);

        var (status, _, retried) = await CallAsync(client, "/connectors/llm:test/flaky");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("llm:test", ConnectorId(retried));

        var (claimedStatus, _, claimed) = await CallAsync(client, "/connectors/llm:test/claims-connector/403");
        Assert.Equal(HttpStatusCode.Forbidden, claimedStatus);
        Assert.Equal("llm:test", ConnectorId(claimed));
    }
}
