using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Routing.Effort;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Microsoft.Extensions.Configuration;

// Routing decision speed. "inprocess" (default): per-decision time with BenchmarkDotNet for a 61-char and a
// 3.4 KB input. "http [seconds]": decisions/s over HTTP with 64 connections against the service on loopback.
var mode = args.FirstOrDefault() ?? "inprocess";
if (mode == "http")
{
    await HttpLoad.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 20);
}
else
{
    BenchmarkRunner.Run<DecisionBenchmark>(args: [.. args.Skip(1)]);
}

[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class DecisionBenchmark
{
    private EffortRouter _router = null!;
    private DecisionRequest _short = null!;
    private DecisionRequest _large = null!;

    [GlobalSetup]
    public void Setup()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("Routing:Profile", "tuned")]).Build();
        var options = new RoutingOptions();
        new RoutingProfileSetup(configuration).Configure(options);
        var wrapped = Microsoft.Extensions.Options.Options.Create(options);
        _router = new EffortRouter(wrapped, new PricingCatalog(wrapped));
        _short = Request(Samples.Short);
        _large = Request(Samples.Large);
        Console.WriteLine($"// inputs rendered: {Samples.RenderedLength(Samples.Short)} and {Samples.RenderedLength(Samples.Large)} chars");
    }

    private static DecisionRequest Request(JsonElement inputs) =>
        new(null, "default-model", 4096, null, "tenant-a", "engineering", inputs, false, null, "openai");

    [Benchmark(Description = "decision, 61-char input")]
    public EffortDecision Short() => _router.Resolve(_short);

    [Benchmark(Description = "decision, 3.4 KB input")]
    public EffortDecision Large() => _router.Resolve(_large);
}

public static class Samples
{
    /// <summary>Renders to 61 characters as json.dumps(inputs, sort_keys=True).</summary>
    public static readonly JsonElement Short = JsonSerializer.SerializeToElement(new { prompt = "Summarize the meeting notes for the whole team!" });

    public static readonly JsonElement Large = JsonSerializer.SerializeToElement(new
    {
        prompt = string.Join(' ', Enumerable.Repeat("Please review the quarterly report and list the main changes for the team meeting notes.", 37)),
        context = new[] { "calendar", "agenda", "notes" },
        user = new { name = "Ünïcödé Straße", locale = "de-DE" },
    });

    public static int RenderedLength(JsonElement inputs)
    {
        var text = new System.Text.StringBuilder();
        Agent33.ServiceDefaults.Compatibility.PythonJson.AppendDumps(inputs, text);
        return text.Length;
    }
}

public static class HttpLoad
{
    public static async Task RunAsync(int seconds)
    {
        const string key = "bench-key";
        var port = FreePort();
        var service = Path.Combine(AppContext.BaseDirectory, "Agent33.Routing.dll");
        using var server = Process.Start(new ProcessStartInfo("dotnet", [service])
        {
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["Logging__LogLevel__Default"] = "Warning",
                ["Auth__ApiKeys__0__Key"] = key,
                ["Auth__ApiKeys__0__Tenant"] = "bench",
                ["Auth__ApiKeys__0__Scopes__0"] = "write",
                ["RateLimiting__WritesPerSecond"] = "0",
                ["Routing__Profile"] = "tuned",
                ["Routing__Alerts__Enabled"] = "false",
            },
            RedirectStandardOutput = true,
        })!;
        try
        {
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
            using var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            await WaitUntilUpAsync(client);

            var body = JsonContent.Create(new { default_model = "m", max_tokens = 2000, tenant_id = "bench", inputs = Samples.Short, provider = "openai" });
            await body.LoadIntoBufferAsync();
            await LoadAsync(client, body, TimeSpan.FromSeconds(3), record: null); // warm-up

            var latencies = new List<double>[64];
            var started = Stopwatch.StartNew();
            await LoadAsync(client, body, TimeSpan.FromSeconds(seconds), latencies);
            var elapsed = started.Elapsed.TotalSeconds;
            var all = latencies.SelectMany(l => l).Order().ToArray();
            Console.WriteLine($"HTTP decisions: {all.Length / elapsed:F0}/s with 64 connections over {elapsed:F1} s " +
                              $"(p50 {all[all.Length / 2]:F2} ms, p99 {all[(int)(all.Length * 0.99)]:F2} ms, {Environment.ProcessorCount} cores shared by client and server)");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
        }
    }

    private static async Task LoadAsync(HttpClient client, HttpContent body, TimeSpan duration, List<double>[]? record)
    {
        var until = DateTime.UtcNow + duration;
        var workers = Enumerable.Range(0, 64).Select(async i =>
        {
            var mine = new List<double>(100_000);
            if (record is not null)
            {
                record[i] = mine;
            }
            while (DateTime.UtcNow < until)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync("/v1/routing/decisions", body);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"decision failed: {(int)response.StatusCode}");
                }
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        });
        await Task.WhenAll(workers);
    }

    private static async Task WaitUntilUpAsync(HttpClient client)
    {
        for (var i = 0; i < 200; i++)
        {
            try
            {
                if ((await client.GetAsync("/alive")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException("the routing service did not start");
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
