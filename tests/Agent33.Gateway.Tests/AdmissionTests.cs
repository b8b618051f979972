using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Agent33.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// One admission, declared once on each endpoint: the connector fast path runs the routed path's own admission and
/// endpoint, so for every gateway endpoint a connector call answers the same either way, and a connector endpoint
/// that declares what the fast path's lookup would skip stops the gateway at start-up.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class AdmissionTests : IAsyncLifetime
{
    private Upstream _first = null!;
    private Upstream _second = null!;

    public async Task InitializeAsync()
    {
        _first = await Upstream.StartAsync();
        _second = await Upstream.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
    }

    private GatewayFactory Gateway(bool fastPath) => new([
        .. GatewayFactory.Connector(0, "tool:plain", _first.Address),
        .. GatewayFactory.Connector(1, "mcp:tools", _first.Address, kind: "mcp"),
        .. GatewayFactory.Connector(2, "tool:pair", _first.Address, more: [("Destinations:0", _second.Address)]),
        .. GatewayFactory.Connector(3, "llm:provider", _first.Address, kind: "llm", more: [("Models:0", "gpt-*")]),
        ("Cors:AllowedOrigins:0", "https://app.example"),
        ("RateLimiting:WritesPerSecond", "1"), ("RateLimiting:Burst", "1"),
        ("Gateway:FastPath", fastPath ? "true" : "false"),
    ]);

    /// <summary>What a caller can tell of an answer: status, code, body and the headers the contract names.</summary>
    private static async Task<string> SeenAsync((HttpStatusCode Status, string? Code, HttpResponseMessage Response) answer)
    {
        var headers = new[] { "X-Connector-Id", "Retry-After", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "WWW-Authenticate" }
            .Select(name => answer.Response.Headers.TryGetValues(name, out var values) ? $"{name}={string.Join(",", values)}" : $"{name}=-");
        var body = System.Text.RegularExpressions.Regex.Replace(await answer.Response.Content.ReadAsStringAsync(), "\"trace_id\":\"[^\"]*\"", "\"trace_id\":\"…\"");
        return $"{(int)answer.Status} {answer.Code} [{string.Join("; ", headers)}] {body}";
    }

    private static IReadOnlyList<string> ConnectorEndpoints(GatewayFactory gateway) =>
        [.. gateway.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.GetMetadata<RouteModel>()?.Config.RouteId).OfType<string>().Order()];

    [Fact]
    public async Task Every_connector_endpoint_answers_alike_on_the_fast_and_the_routed_path()
    {
        await using var fast = Gateway(fastPath: true);
        await using var routed = Gateway(fastPath: false);
        var (matches, listener) = CountRouteMatches(fast);
        using var _ = listener;
        var endpoints = ConnectorEndpoints(routed);
        Assert.Equal(["llm:provider", "mcp:tools", "tool:pair", "tool:plain"], endpoints);
        Assert.Equal(endpoints, ConnectorEndpoints(fast));

        foreach (var id in endpoints)
        {
            var cases = new (string Name, Func<GatewayFactory, Task<(HttpStatusCode, string?, HttpResponseMessage)>> Call)[]
            {
                ("no key", g => CallAsync(g.CreateClient(), $"/connectors/{id}/ok/x")),
                ("unknown key", g => CallAsync(g.CreateClient("not-a-key"), $"/connectors/{id}/ok/x")),
                ("read key", g => CallAsync(g.CreateClient(TestKeys.Reader), $"/connectors/{id}/ok/x")),
                ("write key", g => CallAsync(g.CreateClient(TestKeys.Writer), $"/connectors/{id}/ok/x")),
                ("browser", g => CallAsync(g.CreateClient(TestKeys.Writer), $"/connectors/{id}/ok/x", headers: ("Origin", "https://app.example"))),
                ("other origin", g => CallAsync(g.CreateClient(TestKeys.Writer), $"/connectors/{id}/ok/x", headers: ("Origin", "https://evil.example"))),
                ("preflight", g => CallAsync(g.CreateClient(), $"/connectors/{id}/ok/x", HttpMethod.Options,
                    headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")])),
                ("another spelling", g => CallAsync(g.CreateClient(TestKeys.Writer), $"/CONNECTORS/{id.ToUpperInvariant()}/ok/x")),
                ("limited write", async g =>
                {
                    await CallAsync(g.CreateClient(TestKeys.OtherWriter), $"/connectors/{id}/status/204", HttpMethod.Post);
                    return await CallAsync(g.CreateClient(TestKeys.OtherWriter), $"/connectors/{id}/status/204", HttpMethod.Post);
                }),
            };
            foreach (var (name, call) in cases)
            {
                var expected = await SeenAsync(await call(routed));
                Assert.Equal($"{id} {name}: {expected}", $"{id} {name}: {await SeenAsync(await call(fast))}");
                if (name == "limited write")
                {
                    Assert.StartsWith("429 rate_limited", expected);
                }
            }
        }
        Assert.Empty(matches); // route matching never ran for a connector call on the fast path

        // A cluster with two destinations: both paths balance over both, as YARP's own selection does.
        foreach (var gateway in new[] { fast, routed })
        {
            var (firstBefore, secondBefore) = (_first.Hits, _second.Hits);
            for (var i = 0; i < 40; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await CallAsync(gateway.CreateClient(TestKeys.Writer), "/connectors/tool:pair/ok")).Status);
            }
            Assert.True(_first.Hits > firstBefore && _second.Hits > secondBefore, $"hits: {_first.Hits - firstBefore} and {_second.Hits - secondBefore}");
        }
    }

    /// <summary>This gateway's route-matching attempts (a listener on its own meters: other hosts in the process have theirs).</summary>
    private static (ConcurrentBag<long> Matches, MeterListener Listener) CountRouteMatches(GatewayFactory gateway)
    {
        var meters = gateway.Services.GetRequiredService<IMeterFactory>();
        var matches = new ConcurrentBag<long>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listening) =>
            {
                if (instrument.Name == "aspnetcore.routing.match_attempts" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    listening.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => matches.Add(value));
        listener.Start();
        return (matches, listener);
    }

    /// <summary>Adds a method match to every route, as a route configured with <c>Match:Methods</c> would have.</summary>
    private sealed class MethodsOnEveryRoute : IProxyConfigFilter
    {
        public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => ValueTask.FromResult(cluster);

        public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel) =>
            ValueTask.FromResult(route with { Match = route.Match with { Methods = ["GET"] } });
    }

    [Fact]
    public async Task A_connector_endpoint_that_declares_what_the_fast_path_would_skip_stops_the_gateway()
    {
        await using var gateway = Gateway(fastPath: true);
        gateway.ConfigureServices = services => services.AddSingleton<IProxyConfigFilter, MethodsOnEveryRoute>();
        var refused = Assert.ThrowsAny<Exception>(() => gateway.CreateClient());
        Assert.Contains("does not honour", refused.ToString());
        Assert.Contains("HTTP methods", refused.ToString());

        await using var routedOnly = Gateway(fastPath: false);
        routedOnly.ConfigureServices = services => services.AddSingleton<IProxyConfigFilter, MethodsOnEveryRoute>();
        Assert.Equal(HttpStatusCode.OK, (await routedOnly.CreateClient(TestKeys.Writer).GetAsync("/connectors/tool:plain/ok")).StatusCode);
    }
}
