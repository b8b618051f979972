using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Agent33.ServiceDefaults.RateLimiting;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agent33.ServiceDefaults.Tests;

/// <summary>
/// Write limits with <c>ConnectionStrings:ratelimit</c>: replicas of one service (here two hosts on real Kestrel
/// servers) draw every key's writes from one bucket in a real redis-server; other keys and other services keep their
/// own; and with Redis stopped, writes still pass on each replica's own bucket and the failures are counted.
/// </summary>
public sealed partial class SharedRateLimitTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Writer = "writer-key";
    private const string OtherWriter = "other-writer-key";
    private const string Service = "Agent33.RateLimitTest";

    [RedisFact]
    public async Task Two_replicas_together_admit_one_bucket_per_key()
    {
        await using var redis = await RedisServer.StartAsync();
        const int rate = 5, burst = 10;
        await using var a = await Replica.StartAsync(redis.ConnectionString, Service, rate, burst);
        await using var b = await Replica.StartAsync(redis.ConnectionString, Service, rate, burst);

        // Writes alternate between the replicas for about two seconds.
        var admitted = 0;
        var admittedBy = new int[2];
        HttpResponseMessage? limited = null;
        var clock = Stopwatch.StartNew();
        for (var i = 0; clock.Elapsed < TimeSpan.FromSeconds(2); i++)
        {
            var replica = i % 2 == 0 ? a : b;
            var response = await replica.PostAsync(Writer);
            if (response.StatusCode == HttpStatusCode.Created)
            {
                admitted++;
                admittedBy[i % 2]++;
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                Assert.Contains("\"rate_limited\"", await response.Content.ReadAsStringAsync());
                limited = response;
            }
            await Task.Delay(10);
        }
        var elapsed = clock.Elapsed.TotalSeconds;
        output.WriteLine($"{admitted} writes admitted in {elapsed:F2} s ({admittedBy[0]} + {admittedBy[1]})");

        // One bucket: the burst plus a refill each second that passed (the bucket refills once a second). Two
        // buckets, one per replica, would have admitted twice that.
        Assert.InRange(admitted, burst + rate * ((int)elapsed - 1), burst + rate * ((int)elapsed + 1));
        Assert.True(admitted < 2 * (burst + rate * (int)elapsed), $"{admitted} writes admitted: the replicas did not share the bucket");
        Assert.All(admittedBy, n => Assert.True(n > 0));
        Assert.NotNull(limited);
        Assert.True(limited!.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After of at least a second");

        // Another key has its own bucket on both replicas; a replica of another service has its own buckets per key.
        // (A refill may fall just after the loop: take it first, so the key is empty on both replicas.)
        for (var i = 0; i <= rate && (await a.PostAsync(Writer)).StatusCode == HttpStatusCode.Created; i++)
        {
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, (await b.PostAsync(Writer)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await a.PostAsync(OtherWriter)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await b.PostAsync(OtherWriter)).StatusCode);
        await using var otherService = await Replica.StartAsync(redis.ConnectionString, "Agent33.OtherService", rate, burst);
        Assert.Equal(HttpStatusCode.Created, (await otherService.PostAsync(Writer)).StatusCode);

        // Reads are never limited.
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync(Writer)).StatusCode);
        Assert.Equal(0, await a.StoreFailuresAsync());
    }

    [RedisFact]
    public async Task With_redis_stopped_writes_fail_open_to_the_replicas_own_bucket_and_are_counted()
    {
        var redis = await RedisServer.StartAsync();
        try
        {
            await using var replica = await Replica.StartAsync(redis.ConnectionString, Service, perSecond: 1, burst: 3);
            while ((await replica.PostAsync(Writer)).StatusCode == HttpStatusCode.Created)
            {
            }

            await redis.StopAsync();
            // The replica's own bucket decides now: the key's first writes pass again, up to its burst.
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 5; i++)
            {
                statuses.Add((await replica.PostAsync(Writer)).StatusCode);
            }
            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created], statuses.Take(3));
            Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
            Assert.Equal(HttpStatusCode.Created, (await replica.PostAsync(OtherWriter)).StatusCode);
            await Eventually.WaitUntilAsync(async () => await replica.StoreFailuresAsync() >= 6, "the store failures to be counted", 10);

            // Back to the shared bucket once Redis answers again (it restarts empty, so the key starts full).
            await redis.StartAgainAsync();
            await Eventually.WaitUntilAsync(() => replica.Store.Connection is not null, "the replica to reconnect", 30);
            var failures = await replica.StoreFailuresAsync();
            Assert.Equal(HttpStatusCode.Created, (await replica.PostAsync(Writer)).StatusCode);
            Assert.Equal(failures, await replica.StoreFailuresAsync());
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }

    /// <summary>One service replica: the shared defaults on a real Kestrel server, with a write and a read route.</summary>
    private sealed class Replica(WebApplication app, HttpClient client) : IAsyncDisposable
    {
        public RedisRateLimitStore Store => app.Services.GetRequiredService<RedisRateLimitStore>();

        public static async Task<Replica> StartAsync(string redis, string applicationName, int perSecond, int burst)
        {
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing", ApplicationName = applicationName });
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Auth:ApiKeys:0:Key"] = Writer, ["Auth:ApiKeys:0:Tenant"] = "tenant-a", ["Auth:ApiKeys:0:Scopes:0"] = "write",
                ["Auth:ApiKeys:0:Scopes:1"] = "read",
                ["Auth:ApiKeys:1:Key"] = OtherWriter, ["Auth:ApiKeys:1:Tenant"] = "tenant-b", ["Auth:ApiKeys:1:Scopes:0"] = "write",
                ["RateLimiting:WritesPerSecond"] = perSecond.ToString(),
                ["RateLimiting:Burst"] = burst.ToString(),
                ["ConnectionStrings:ratelimit"] = redis,
            });
            builder.AddServiceDefaults();
            var app = builder.Build();
            app.MapDefaultEndpoints();
            app.MapPost("/items", () => TypedResults.Created("/items/1")).RequireAuthorization(Auth.Scopes.Write);
            app.MapGet("/items", () => TypedResults.Ok()).RequireAuthorization(Auth.Scopes.Read);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var replica = new Replica(app, new HttpClient { BaseAddress = new Uri(address) });
            // Until it is connected a replica limits on its own; the tests start from the shared bucket.
            await Eventually.WaitUntilAsync(() => replica.Store.Connection is not null, "the replica to connect to Redis", 30);
            return replica;
        }

        public Task<HttpResponseMessage> PostAsync(string key) => SendAsync(HttpMethod.Post, key, JsonContent.Create(new { name = "a" }));

        public Task<HttpResponseMessage> GetAsync(string key) => SendAsync(HttpMethod.Get, key, null);

        private Task<HttpResponseMessage> SendAsync(HttpMethod method, string key, HttpContent? content)
        {
            var request = new HttpRequestMessage(method, "/items") { Content = content };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return client.SendAsync(request);
        }

        /// <summary><c>rate_limit_store_failures_total</c> as the service's /metrics shows it.</summary>
        public async Task<double> StoreFailuresAsync()
        {
            var failures = PrometheusText.Sample(await client.GetStringAsync("/metrics"), "rate_limit_store_failures_total");
            Assert.True(failures is not null, "rate_limit_store_failures_total is exported from start-up");
            return failures.Value;
        }

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await app.DisposeAsync();
        }
    }
}
