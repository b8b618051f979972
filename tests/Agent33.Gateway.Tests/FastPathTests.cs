using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Agent33.Testing;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;

using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// A writer's connector call is served ahead of routing and the shared middleware (the gateway's hot path); every
/// other request takes the routed path. Both must answer alike: the same boundary, limits, headers and metrics.
/// </summary>
public sealed class FastPathTests : IAsyncLifetime
{
    // Metrics of every host in the test process share their meters' names: a connector id of its own keeps this test's series apart.
    private readonly string _id = $"llm:{Guid.NewGuid():N}";
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    /// <summary>Counts the authorization middleware's policy checks, which only the routed path makes.</summary>
    private sealed class CountingAuthorization(IAuthorizationService inner) : IAuthorizationService
    {
        public int Checks;

        public Task<AuthorizationResult> AuthorizeAsync(System.Security.Claims.ClaimsPrincipal user, object? resource, IEnumerable<IAuthorizationRequirement> requirements)
        {
            Interlocked.Increment(ref Checks);
            return inner.AuthorizeAsync(user, resource, requirements);
        }

        public Task<AuthorizationResult> AuthorizeAsync(System.Security.Claims.ClaimsPrincipal user, object? resource, string policyName)
        {
            Interlocked.Increment(ref Checks);
            return inner.AuthorizeAsync(user, resource, policyName);
        }
    }

    private GatewayFactory Gateway(out CountingAuthorization authorization, params (string Key, string Value)[] settings)
    {
        var gateway = new GatewayFactory([.. GatewayFactory.Connector(0, _id, _upstream.Address), .. settings]);
        gateway.ConfigureServices = services => services.AddSingleton<IAuthorizationService>(sp =>
            new CountingAuthorization(ActivatorUtilities.CreateInstance<DefaultAuthorizationService>(sp)));
        authorization = (CountingAuthorization)gateway.Services.GetRequiredService<IAuthorizationService>(); // starts the gateway
        return gateway;
    }

    [Fact]
    public async Task A_writers_call_skips_the_shared_middleware_and_answers_as_the_routed_path_does()
    {
        await using var gateway = Gateway(out var authorization);
        var writer = gateway.CreateClient(TestKeys.Writer);

        var fast = await CallAsync(writer, $"/connectors/{_id}/ok/models");
        Assert.Equal(HttpStatusCode.OK, fast.Status);
        Assert.Equal(0, authorization.Checks); // no policy was evaluated: the fast path served it

        // A browser's call (Origin) and another spelling of the path take the routed path, and answer alike.
        var routed = await CallAsync(writer, $"/connectors/{_id}/ok/models", headers: ("Origin", "https://app.example"));
        var checks = authorization.Checks;
        Assert.True(checks > 0);
        var otherCase = await CallAsync(writer, $"/CONNECTORS/{_id}/ok/models");
        Assert.True(authorization.Checks > checks);
        foreach (var answer in new[] { routed, otherCase })
        {
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(await fast.Response.Content.ReadAsStringAsync(), await answer.Response.Content.ReadAsStringAsync());
            Assert.Equal(_id, answer.Response.Headers.GetValues("X-Connector-Id").Single());
        }
        Assert.Equal(_id, fast.Response.Headers.GetValues("X-Connector-Id").Single());

        // Keys that may not call go to the routed path, which refuses them as the contract says.
        Assert.Equal((HttpStatusCode.Unauthorized, "unauthenticated"), Pick(await CallAsync(gateway.CreateClient(), $"/connectors/{_id}/ok")));
        Assert.Equal((HttpStatusCode.Unauthorized, "unauthenticated"), Pick(await CallAsync(gateway.CreateClient("not-a-key"), $"/connectors/{_id}/ok")));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), Pick(await CallAsync(gateway.CreateClient(TestKeys.Reader), $"/connectors/{_id}/ok")));
        Assert.Equal((HttpStatusCode.NotFound, "connector_not_found"), Pick(await CallAsync(writer, "/connectors/llm:nope/ok")));

        // Its request is recorded under the connector's route, as the two routed ones are.
        var metrics = await ScrapeAsync(gateway);
        Assert.Equal(3, Sample(metrics, "http_server_request_duration_seconds_count",
            ("http_route", $"/connectors/{_id}/{{**remainder}}"), ("http_response_status_code", "200")));
    }

    [Fact]
    public async Task The_write_limit_holds_on_the_fast_path_per_key()
    {
        await using var gateway = Gateway(out _, ("RateLimiting:WritesPerSecond", "1"), ("RateLimiting:Burst", "2"));
        var writer = gateway.CreateClient(TestKeys.Writer);
        // This gateway's own decisions: Prometheus text would also hold those of the other gateways in this test process.
        var meters = gateway.Services.GetRequiredService<IMeterFactory>();
        var decisions = new ConcurrentDictionary<string, int>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listening) =>
            {
                if (instrument.Name == "aspnetcore.rate_limiting.requests" && ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    listening.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "aspnetcore.rate_limiting.result")
                {
                    decisions.AddOrUpdate((string)tag.Value!, (int)value, (_, sum) => sum + (int)value);
                }
            }
        });
        listener.Start();

        var answers = new List<(HttpStatusCode, string?)>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(Pick(await CallAsync(writer, $"/connectors/{_id}/status/204", HttpMethod.Post)));
        }
        var limited = await CallAsync(writer, $"/connectors/{_id}/status/204", HttpMethod.Post);

        Assert.Equal([(HttpStatusCode.NoContent, null), (HttpStatusCode.NoContent, null)], answers.Take(2));
        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limited"), Pick(limited));
        Assert.True(int.Parse(limited.Response.Headers.GetValues("Retry-After").Single()) >= 1);
        // Reads are never limited, and another key has its own bucket.
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(writer, $"/connectors/{_id}/ok")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await CallAsync(gateway.CreateClient(TestKeys.OtherWriter), $"/connectors/{_id}/status/204", HttpMethod.Post)).Status);

        // The rate limiter's decisions are counted as the middleware counts them: each let-through call (when its lease
        // ends, just after its answer) and each refusal, once.
        var refused = answers.Count(a => a.Item1 == HttpStatusCode.TooManyRequests) + 1;
        var expected = new Dictionary<string, int> { ["acquired"] = 6 - refused, ["global_limiter"] = refused };
        for (var waited = 0; waited < 50 && !decisions.OrderBy(d => d.Key).SequenceEqual(expected.OrderBy(d => d.Key)); waited++)
        {
            await Task.Delay(20);
        }
        Assert.Equal(expected.OrderBy(d => d.Key), decisions.OrderBy(d => d.Key));
    }

    private static (HttpStatusCode, string?) Pick((HttpStatusCode Status, string? Code, HttpResponseMessage _) answer) => (answer.Status, answer.Code);
}
