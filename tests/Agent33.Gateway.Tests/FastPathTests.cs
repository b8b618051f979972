using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;

using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// A connector call is found ahead of routing (the gateway's hot path) and admitted by the routed path's own
/// middleware (AdmissionTests proves the answers alike for every endpoint): the write limit holds and is counted once.
/// </summary>
public sealed class FastPathTests : IAsyncLifetime
{
    // Metrics of every host in the test process share their meters' names: a connector id of its own keeps this test's series apart.
    private readonly string _id = $"llm:{Guid.NewGuid():N}";
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private GatewayFactory Gateway(params (string Key, string Value)[] settings) =>
        new([.. GatewayFactory.Connector(0, _id, _upstream.Address), .. settings]);

    [Fact]
    public async Task The_write_limit_holds_on_the_fast_path_per_key()
    {
        await using var gateway = Gateway(("RateLimiting:WritesPerSecond", "1"), ("RateLimiting:Burst", "2"));
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

        // The rate limiter's decisions are counted by the middleware itself: each let-through call (when its lease
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
