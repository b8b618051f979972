using System.Diagnostics;
using System.Net;
using Yarp.ReverseProxy.Configuration;

// One run loads the same small loopback backend three ways — directly, through a plain YARP route without the
// boundary, and through the gateway's full boundary pipeline — at full load (64 connections) and at half of the
// plain route's peak, printing requests/s and p50/p99. Usage: [seconds per measurement, default 10]
// (The same executable also serves as the backend and as the plain proxy, each in its own process.)
switch (args.FirstOrDefault())
{
    case "backend":
        await RunBackendAsync(int.Parse(args[1]));
        return;
    case "plain-proxy":
        await RunPlainProxyAsync(int.Parse(args[1]), args[2]);
        return;
}

var seconds = args.Length > 0 ? int.Parse(args[0]) : 10;
var self = Path.Combine(AppContext.BaseDirectory, "Agent33.Gateway.Bench.dll");
int backendPort = FreePort(), plainPort = FreePort(), gatewayPort = FreePort();
var backendUrl = $"http://127.0.0.1:{backendPort}";
using var backend = Start(self, ["backend", backendPort.ToString()]);
using var plain = Start(self, ["plain-proxy", plainPort.ToString(), backendUrl]);
using var gateway = Start(Path.Combine(AppContext.BaseDirectory, "Agent33.Gateway.dll"), [], new()
{
    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{gatewayPort}",
    ["ASPNETCORE_ENVIRONMENT"] = "Production",
    ["Logging__LogLevel__Default"] = "Warning",
    ["Auth__ApiKeys__0__Key"] = "bench-key",
    ["Auth__ApiKeys__0__Tenant"] = "bench",
    ["Auth__ApiKeys__0__Scopes__0"] = "write",
    ["RateLimiting__WritesPerSecond"] = "0",
    ["Connectors__0__Id"] = "llm:bench",
    ["Connectors__0__Kind"] = "http",
    ["Connectors__0__Destination"] = backendUrl,
});
try
{
    var targets = new (string Name, string Url)[]
    {
        ("direct", $"{backendUrl}/v1/models"),
        ("plain YARP", $"http://127.0.0.1:{plainPort}/v1/models"),
        ("full pipeline", $"http://127.0.0.1:{gatewayPort}/connectors/llm:bench/v1/models"),
    };
    foreach (var (_, url) in targets)
    {
        await WaitUpAsync(url);
        await MeasureAsync(url, TimeSpan.FromSeconds(3), ratePerSecond: null); // warm-up
    }
    var peak = new Dictionary<string, Result>();
    foreach (var (name, url) in targets)
    {
        peak[name] = await MeasureAsync(url, TimeSpan.FromSeconds(seconds), ratePerSecond: null);
        Console.WriteLine($"{name,-14} peak: {peak[name].Rate,8:F0} req/s  p50 {peak[name].P50:F2} ms  p99 {peak[name].P99:F2} ms");
    }
    var half = peak["plain YARP"].Rate / 2;
    var plainHalf = await MeasureAsync(targets[1].Url, TimeSpan.FromSeconds(seconds), half);
    var fullHalf = await MeasureAsync(targets[2].Url, TimeSpan.FromSeconds(seconds), half);
    Console.WriteLine($"at half of plain YARP's peak ({half:F0} req/s): plain p99 {plainHalf.P99:F2} ms, full pipeline p99 {fullHalf.P99:F2} ms, added p99 {fullHalf.P99 - plainHalf.P99:F2} ms");
    Console.WriteLine($"full pipeline / plain YARP throughput: {peak["full pipeline"].Rate / peak["plain YARP"].Rate:F2} ({Environment.ProcessorCount} cores shared by client, proxies and backend)");
}
finally
{
    foreach (var process in new[] { backend, plain, gateway })
    {
        process.Kill(entireProcessTree: true);
    }
}

static async Task<Result> MeasureAsync(string url, TimeSpan duration, double? ratePerSecond)
{
    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 64 };
    using var client = new HttpClient(handler);
    client.DefaultRequestHeaders.Authorization = new("Bearer", "bench-key");
    var latencies = new List<double>[64];
    var until = DateTime.UtcNow + duration;
    var interval = ratePerSecond is { } rate ? TimeSpan.FromSeconds(64 / rate) : TimeSpan.Zero;
    var started = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 64).Select(async worker =>
    {
        var mine = latencies[worker] = new List<double>(100_000);
        var next = Stopwatch.GetTimestamp();
        while (DateTime.UtcNow < until)
        {
            if (interval > TimeSpan.Zero)
            {
                next += (long)(interval.TotalSeconds * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }
            }
            var begin = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(url);
            await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{url} answered {(int)response.StatusCode}");
            }
            mine.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
        }
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return new Result(all.Length / started.Elapsed.TotalSeconds, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
}

static async Task RunBackendAsync(int port)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    var app = builder.Build();
    app.MapGet("/{**path}", () => Results.Text("""{"object":"list","data":[{"id":"bench-model"}]}""", "application/json"));
    await app.RunAsync();
}

// The same host as the gateway (service defaults: telemetry, API keys, rate limiter), YARP without the boundary:
// the difference between the two is what the boundary pipeline costs.
static async Task RunPlainProxyAsync(int port, string destination)
{
    var builder = WebApplication.CreateBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Auth:ApiKeys:0:Key"] = "bench-key",
        ["Auth:ApiKeys:0:Tenant"] = "bench",
        ["Auth:ApiKeys:0:Scopes:0"] = "write",
        ["RateLimiting:WritesPerSecond"] = "0",
    });
    builder.AddServiceDefaults();
    builder.Services.AddReverseProxy().LoadFromMemory(
        [new RouteConfig { RouteId = "plain", ClusterId = "plain", AuthorizationPolicy = "write", Match = new RouteMatch { Path = "/{**rest}" } }],
        [new ClusterConfig { ClusterId = "plain", Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = destination } } }]);
    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapReverseProxy();
    await app.RunAsync();
}

static async Task WaitUpAsync(string url)
{
    using var client = new HttpClient();
    client.DefaultRequestHeaders.Authorization = new("Bearer", "bench-key");
    for (var i = 0; i < 300; i++)
    {
        try
        {
            if ((await client.GetAsync(url)).IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }
        await Task.Delay(100);
    }
    throw new InvalidOperationException($"{url} did not come up");
}

static Process Start(string dll, string[] args, Dictionary<string, string>? environment = null)
{
    var info = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true };
    foreach (var (key, value) in environment ?? [])
    {
        info.Environment[key] = value;
    }
    return Process.Start(info)!;
}

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

internal sealed record Result(double Rate, double P50, double P99);
