using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Agent33.Testing;
using ModelContextProtocol.Client;
using ModelContextProtocol.Server;
using Npgsql;
using Yarp.ReverseProxy.Configuration;

// The gateway measured the way proxies are usually compared: an external load generator (wrk, one thread,
// 32 connections) against the gateway as deployed, bare YARP, nginx and the backend itself, each its own
// process on 127.0.0.1 in front of the same tiny Kestrel backend. See README.md beside this file.
//
//   [seconds] [--rounds N]   load: warm-up, then N (≥ 3) alternating rounds of each target; medians and ratios
//   --hold SECONDS           the gateway alone under wrk load for that long, its PID printed (dotnet-trace, dotnet-counters)
//   sse [requests]           time to first event and total time of an event stream: direct, bare YARP, gateway
//   llm [requests]           the OpenAI endpoint: time to first token of a streamed chat completion, direct to the provider
//                            stub, through bare YARP and through the gateway, with and without a budget (in memory and in a
//                            throwaway Postgres), alternating; then non-streaming completions/s under wrk (POST), three rounds
//   mcp [requests] [--hold S] /mcp (the aggregate of every mcp connector) against /connectors/{id}: 5 loopback MCP servers
//                            (the official SDK's, stateless, 50 tools each) behind one gateway (Mcp:Pinning=off); through
//                            the official SDK client, sequential tools/call of one tool via /mcp and via /connectors/mcp:s0,
//                            alternating (added p50 ≤ 1 ms), then tools/list via /mcp, all 250 tools (p50 ≤ 20 ms); reference
//                            lines in the same alternation: a second gateway with pinning at its default (enforce), and the
//                            first MCP server called directly; the calls again in runs of 50 per target (an agent's calls in
//                            a row); last, the gateway process's CPU per call and per list;
//                            with --hold, only tools/call through /mcp for S seconds, the gateway's PID printed (to trace)
//   trace-report FILE [N]    the top N frames of a dotnet-trace collect-linux CPU trace (see README.md)
//   alloc-report FILE [N]    the top N types and allocating frames of a dotnet-trace collect --profile gc-verbose trace
//
// The same executable is also the backend, the bare YARP proxy and mcp mode's MCP servers (the "backend", "bare-yarp"
// and "mcp-server" arguments).
switch (args.FirstOrDefault())
{
    case "backend":
        await RunBackendAsync(int.Parse(args[1], CultureInfo.InvariantCulture));
        return 0;
    case "bare-yarp":
        await RunBareYarpAsync(int.Parse(args[1], CultureInfo.InvariantCulture), args[2]);
        return 0;
    case "mcp-server":
        await RunMcpServerAsync(int.Parse(args[1], CultureInfo.InvariantCulture));
        return 0;
    case "alloc-report" when args.Length > 1:
        return TraceReport.PrintAllocations(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 25);
    case "trace-report" when args.Length > 1:
        return TraceReport.Print(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 25);
}

var llmMode = args.FirstOrDefault() == "llm";
var mcpMode = args.FirstOrDefault() == "mcp";
var sseMode = args.FirstOrDefault() == "sse" || llmMode || mcpMode; // sequential modes: [requests], no wrk (llm finds its own)
int seconds = 8, rounds = 3, requests = mcpMode ? 200 : 50;
int? hold = null;
var rest = sseMode ? args[1..] : args;
for (var i = 0; i < rest.Length; i++)
{
    switch (rest[i])
    {
        case "--rounds" when i + 1 < rest.Length && int.TryParse(rest[i + 1], out var r) && r >= 3:
            rounds = r;
            i++;
            break;
        case "--hold" when (!sseMode || mcpMode) && i + 1 < rest.Length && int.TryParse(rest[i + 1], out var h) && h > 0:
            hold = h;
            i++;
            break;
        case var n when sseMode && int.TryParse(n, out var count) && count > 0:
            requests = count;
            break;
        case var n when !sseMode && int.TryParse(n, out var duration) && duration > 0:
            seconds = duration;
            break;
        default:
            Console.Error.WriteLine("usage: [seconds, default 8] [--rounds N ≥ 3, default 3] | --hold SECONDS | sse [requests, default 50] | llm [requests, default 50] | mcp [requests, default 200] | trace-report FILE [N]");
            return 2;
    }
}

// A deployed gateway reserves budgets in Postgres, so that is what llm mode measures; without the binaries it would
// only measure the in-memory store, which says nothing about the acceptance target.
if (llmMode && !PostgresServer.LocalBinariesInstalled)
{
    Console.Error.WriteLine("llm mode needs the PostgreSQL server binaries (initdb, postgres) for a throwaway cluster; install them with: sudo apt-get install -y postgresql");
    return 2;
}

// Ctrl+C or a failure must not leave a backend, proxy or nginx behind (Postgres's own watchdog stops it when this process ends).
Console.CancelKeyPress += (_, _) => Children.StopAll();
var work = Directory.CreateTempSubdirectory("agent33-gateway-bench-");
PostgresServer.OwnPostgres? postgres = null;
try
{
    var wrk = sseMode ? "" : EnsureTool("wrk", ["wrk"]);
    var nginx = sseMode || hold is not null ? "" : EnsureTool("nginx", ["nginx-light", "nginx"]);
    if (wrk is null || nginx is null)
    {
        return 2;
    }

    var self = Path.Combine(AppContext.BaseDirectory, "Agent33.Gateway.Bench.dll");
    var backendUrl = Url(FreePort());
    var backend = Children.Start("backend", "dotnet", [self, "backend", Port(backendUrl)], work.FullName, new() { ["ASPNETCORE_ENVIRONMENT"] = "Production" });
    // llm mode: the real routing service, so model "auto" is measured with the decision it asks for on every call.
    using var routing = llmMode ? await StartRoutingAsync() : null;
    var routingUrl = routing?.BaseAddress.ToString().TrimEnd('/') ?? "http://127.0.0.1:9";
    // mcp mode: the MCP servers, each an mcp connector of the gateway (mcp:s0 … mcp:s4).
    var mcpServers = mcpMode ? Enumerable.Range(0, McpBench.Servers).Select(i =>
    {
        var url = Url(FreePort());
        Children.Start($"mcp server {i}", "dotnet", [self, "mcp-server", Port(url)], work.FullName, new() { ["ASPNETCORE_ENVIRONMENT"] = "Production" });
        return url;
    }).ToArray() : [];
    var mcpConnectors = mcpServers.SelectMany((url, i) => new Dictionary<string, string?>
    {
        [$"Connectors__{2 + i}__Id"] = $"mcp:s{i}",
        [$"Connectors__{2 + i}__Kind"] = "mcp",
        [$"Connectors__{2 + i}__Destination"] = $"{url}/mcp",
    }).ToDictionary();
    var gatewayUrl = Url(FreePort());
    var gateway = StartGateway(gatewayUrl, backendUrl, routingUrl, llmMode, more: mcpMode ? new(mcpConnectors) { ["Mcp__Pinning"] = "off" } : null);
    // mcp mode: a second gateway with Mcp:Pinning at its default (enforce: every listed definition hashed and compared).
    string? pinnedGatewayUrl = null;
    var pinnedGatewayPid = 0;
    if (mcpMode)
    {
        pinnedGatewayUrl = Url(FreePort());
        pinnedGatewayPid = StartGateway(pinnedGatewayUrl, backendUrl, routingUrl, unlimitedWrites: false, name: "gateway (pinning)", more: mcpConnectors).Id;
    }
    // llm mode: a second gateway, the same but for its spend store in Postgres (the first keeps the in-memory store), so
    // one run shows the reservation's cost with both. Durable defaults (fsync, synchronous commit), as in production:
    // the reservation is a committed statement, and the commit's WAL flush is part of what the caller waits for.
    string? pgGatewayUrl = null;
    if (llmMode)
    {
        postgres = await PostgresServer.StartOwnAsync(durable: true);
        // Its own database, created and migrated by the gateway at start-up as a deployment's would be.
        var database = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Database = "gateway" }.ConnectionString;
        await using (var connection = new NpgsqlConnection(postgres.ConnectionString))
        {
            await connection.OpenAsync();
            Console.WriteLine($"Postgres {await new NpgsqlCommand("SHOW server_version", connection).ExecuteScalarAsync()}, a throwaway local cluster with durable defaults (fsync and synchronous_commit on), data under {Path.GetTempPath()}");
        }
        pgGatewayUrl = Url(FreePort());
        StartGateway(pgGatewayUrl, backendUrl, routingUrl, unlimitedWrites: true, database);
    }
    await WaitUpAsync($"{backendUrl}/v1/models");
    await WaitUpAsync($"{gatewayUrl}/connectors/llm:bench/v1/models");
    if (pgGatewayUrl is not null)
    {
        await WaitUpAsync($"{pgGatewayUrl}/connectors/llm:bench/v1/models"); // migrations are applied before it answers
    }
    if (mcpMode)
    {
        foreach (var url in mcpServers)
        {
            await WaitUpAsync($"{url}/v1/models");
        }
        await WaitUpAsync($"{pinnedGatewayUrl}/connectors/llm:bench/v1/models");
        return await RunMcpAsync(requests, gatewayUrl, gateway.Id, pinnedGatewayUrl!, pinnedGatewayPid, mcpServers[0], hold);
    }

    if (hold is { } holdSeconds)
    {
        var target = new Target("gateway", $"{gatewayUrl}/connectors/llm:bench/v1/models");
        // 10 s: a profile should show the steady state, not the JIT still compiling tier-1 code.
        Console.WriteLine($"warm-up   {Describe(target, await WrkAsync(wrk, target, 10))}");
        var duration = $"{TimeSpan.FromSeconds(Math.Min(holdSeconds, 10)):hh\\:mm\\:ss}";
        Console.WriteLine($"gateway PID {gateway.Id}: under wrk load for {holdSeconds} s from now; attach e.g. (see README.md)");
        Console.WriteLine($"  dotnet-trace collect-linux -p {gateway.Id} --profile cpu-sampling --duration {duration}      # CPU samples (root, dotnet-trace 10)");
        Console.WriteLine($"  dotnet-trace collect -p {gateway.Id} --profile dotnet-sampled-thread-time --duration {duration}  # thread time; 'cpu-sampling' before 10");
        Console.WriteLine($"  dotnet-counters monitor -p {gateway.Id} --counters System.Runtime,Microsoft.AspNetCore.Hosting,Microsoft-AspNetCore-Server-Kestrel");
        Console.WriteLine($"held      {Describe(target, await WrkAsync(wrk, target, holdSeconds))}");
        return 0;
    }

    var yarpUrl = Url(FreePort());
    var bareYarp = Children.Start("bare YARP", "dotnet", [self, "bare-yarp", Port(yarpUrl), backendUrl], work.FullName, new() { ["ASPNETCORE_ENVIRONMENT"] = "Production" });
    await WaitUpAsync($"{yarpUrl}/v1/models");
    if (llmMode)
    {
        return await RunLlmAsync(wrkForLlm: EnsureTool("wrk", ["wrk"]), requests, backendUrl, yarpUrl, gatewayUrl, pgGatewayUrl!, work.FullName);
    }
    if (sseMode)
    {
        return await RunSseAsync(requests, [
            new("direct", $"{backendUrl}/v1/stream"),
            new("bare YARP", $"{yarpUrl}/v1/stream"),
            new("gateway", $"{gatewayUrl}/connectors/llm:bench/v1/stream"),
        ]);
    }

    var nginxUrl = Url(FreePort());
    var nginxMaster = StartNginx(nginx, work.FullName, Port(nginxUrl), backendUrl);
    await WaitUpAsync($"{nginxUrl}/v1/models");
    return await RunLoadAsync(wrk, seconds, rounds, [
        new("bare YARP", $"{yarpUrl}/v1/models", bareYarp.Id),
        new("nginx", $"{nginxUrl}/v1/models", nginxMaster.Id),
        new("gateway", $"{gatewayUrl}/connectors/llm:bench/v1/models", gateway.Id),
        new("browser", $"{gatewayUrl}/connectors/llm:bench/v1/models", gateway.Id, Backend.BrowserOrigin),
        new("direct", $"{backendUrl}/v1/models", backend.Id),
    ]);
}
finally
{
    Children.StopAll();
    postgres?.Dispose(); // after the gateways, so none logs a lost connection
    try
    {
        work.Delete(recursive: true);
    }
    catch (IOException)
    {
        // nginx's worker may still be letting go of its temp files; the OS cleans /tmp.
    }
}

// Warm-up, then rounds that alternate the targets, so drift on a shared machine (another build starting,
// thermal limits) spreads over all of them instead of landing on whichever ran last.
static async Task<int> RunLoadAsync(string wrk, int seconds, int rounds, Target[] targets)
{
    Console.WriteLine($"wrk -t1 -c32 -d{seconds}s --latency; {Environment.ProcessorCount} cores shared by wrk, proxy and backend; load average {LoadAverage()}");
    foreach (var target in targets)
    {
        // 30 s: the .NET processes need that long under load to reach their steady state (tier-1 PGO code, pools
        // grown). Measured per process: the gateway's CPU per request still fell from 206 to 146 µs over its first
        // three 8 s runs after a 10 s warm-up; users compare proxies that have been running for a while.
        Console.WriteLine($"warm-up   {Describe(target, await WrkAsync(wrk, target, Math.Max(seconds, 30)))}");
    }
    var results = targets.ToDictionary(t => t.Name, _ => new List<WrkResult>());
    for (var round = 1; round <= rounds; round++)
    {
        foreach (var target in targets)
        {
            var cpuBefore = CpuSeconds(target.Pid);
            var result = await WrkAsync(wrk, target, seconds);
            if (target.Pid != 0 && result.Requests > 0)
            {
                result = result with { CpuMicrosecondsPerRequest = (CpuSeconds(target.Pid) - cpuBefore) * 1e6 / result.Requests };
            }
            results[target.Name].Add(result);
            Console.WriteLine($"round {round}   {Describe(target, result)}");
        }
    }

    Console.WriteLine();
    Console.WriteLine($"median of {rounds} rounds      req/s    p50 ms   p99 ms   CPU µs/req   errors (load average now {LoadAverage()})");
    var median = new Dictionary<string, (double Rate, double P50, double P99, double Cpu)>();
    foreach (var target in targets)
    {
        var list = results[target.Name];
        var m = median[target.Name] = (Median(list.Select(r => r.RequestsPerSecond)), Median(list.Select(r => r.P50Ms)), Median(list.Select(r => r.P99Ms)),
            Median(list.Select(r => r.CpuMicrosecondsPerRequest ?? 0)));
        var errors = list.Sum(r => r.Errors);
        Console.WriteLine($"  {target.Name,-20} {m.Rate,9:N0} {m.P50,9:F2} {m.P99,8:F2} {m.Cpu,12:F0}   {(errors == 0 ? "0" : $"{errors} — NOT VALID")}");
    }
    var (gateway, yarp, nginx) = (median["gateway"], median["bare YARP"], median["nginx"]);
    // The proxies share two cores with wrk and the backend, so requests/s moves with the machine; the CPU each proxy
    // process spends per request is the steadier figure of its own cost.
    Console.WriteLine($"gateway / bare YARP CPU per request: {gateway.Cpu / yarp.Cpu:F2} ({gateway.Cpu:F0} vs {yarp.Cpu:F0} µs)");
    var addedP50 = gateway.P50 - yarp.P50;
    foreach (var shape in new[] { "gateway", "browser" })
    {
        var throughput = median[shape].Rate / yarp.Rate;
        var perRound = string.Join(", ", results[shape].Zip(results["bare YARP"], (g, y) => $"{g.RequestsPerSecond / y.RequestsPerSecond:F2}"));
        Console.WriteLine($"{shape} / bare YARP req/s: {throughput:F2}, rounds {perRound}   (target ≥ 0.85: {(throughput >= 0.85 ? "met" : "NOT met")})");
    }
    Console.WriteLine($"gateway / nginx req/s:     {gateway.Rate / nginx.Rate:F2}");
    Console.WriteLine($"added p50 (gateway − bare YARP): {addedP50:F2} ms   (target ≤ 0.50 ms: {(addedP50 <= 0.5 ? "met" : "NOT met")})");
    if (results.Values.Any(list => list.Any(r => r.Errors > 0)))
    {
        Console.WriteLine("Some runs had errors (non-2xx answers or socket errors): their figures are not valid.");
        return 1;
    }
    return 0;
}

// Latency, not load: one request at a time, so an in-process client measures the stream without competing
// for the cores. Requests alternate between the targets for the same reason the load rounds do.
static async Task<int> RunSseAsync(int requests, Target[] targets)
{
    using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
    client.DefaultRequestHeaders.Authorization = new("Bearer", Backend.ApiKey);
    // Warm-up, unrecorded: short requests until the proxies' code reaches tier 1 (after 30 calls and a pause
    // for the background compiler), then five streams each.
    foreach (var target in targets)
    {
        for (var i = 0; i < 500; i++)
        {
            using var response = await client.GetAsync(target.Url.Replace("/v1/stream", "/v1/models"));
            response.EnsureSuccessStatusCode();
        }
    }
    await Task.Delay(TimeSpan.FromSeconds(1));
    var samples = targets.ToDictionary(t => t.Name, _ => new List<StreamSample>());
    for (var i = -5; i < requests; i++)
    {
        foreach (var target in targets)
        {
            var sample = await StreamOnceAsync(client, target.Url);
            if (i >= 0)
            {
                samples[target.Name].Add(sample);
            }
        }
    }

    Console.WriteLine($"{requests} sequential event streams per target ({Backend.StreamEvents} events, {Backend.StreamInterval.TotalMilliseconds:F0} ms apart); load average {LoadAverage()}");
    Console.WriteLine("                 TTFB p50   TTFB p99   total p50   total p99   bad streams");
    foreach (var target in targets)
    {
        var list = samples[target.Name];
        var bad = list.Count(s => s.Error is not null);
        Console.WriteLine($"  {target.Name,-12} {Percentile(list.Select(s => s.TtfbMs), 0.5),7:F2} ms {Percentile(list.Select(s => s.TtfbMs), 0.99),7:F2} ms {Percentile(list.Select(s => s.TotalMs), 0.5),8:F1} ms {Percentile(list.Select(s => s.TotalMs), 0.99),8:F1} ms   {bad}");
        foreach (var error in list.Select(s => s.Error).OfType<string>().Distinct())
        {
            Console.WriteLine($"      {error}");
        }
    }
    double Ttfb(string name) => Percentile(samples[name].Select(s => s.TtfbMs), 0.5);
    Console.WriteLine($"added TTFB p50: gateway − direct {Ttfb("gateway") - Ttfb("direct"):F2} ms, gateway − bare YARP {Ttfb("gateway") - Ttfb("bare YARP"):F2} ms, bare YARP − direct {Ttfb("bare YARP") - Ttfb("direct"):F2} ms");
    return samples.Values.Any(list => list.Any(s => s.Error is not null)) ? 1 : 0;
}

// The OpenAI endpoint against its provider: time to first token (sequential streams) and non-streaming completions/s
// under wrk, gateway and direct alternating. gatewayUrl keeps spend in memory, pgGatewayUrl in Postgres.
static async Task<int> RunLlmAsync(string? wrkForLlm, int requests, string backendUrl, string yarpUrl, string gatewayUrl, string pgGatewayUrl, string work)
{
    if (wrkForLlm is null)
    {
        return 2;
    }
    using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
    client.DefaultRequestHeaders.Authorization = new("Bearer", Backend.ApiKey);
    (string Name, string Url)[] targets = [("direct", $"{backendUrl}/v1/chat/completions"), ("gateway", $"{gatewayUrl}/v1/chat/completions")];
    // Time to first token: the same stream direct, through a bare YARP and through the gateway, for every inbound API
    // (Responses and Messages translated to the provider's chat completions and back, event by event), for model "auto"
    // (a routing decision per call), and by a tenant with daily budgets ("budgeted": the same call plus its reservation,
    // prompt counted, reserved, settled after) against the gateway whose spend is in memory and the one whose spend is
    // in Postgres ("… pg"), as deployed. Embeddings have no stream: their figure is the time to the whole answer.
    LlmTarget[] ttftTargets =
    [
        new("direct", targets[0].Url, Backend.StreamedChatBody),
        new("bare YARP", $"{yarpUrl}/v1/chat/completions", Backend.StreamedChatBody),
        new("gateway", targets[1].Url, Backend.StreamedChatBody),
        new("responses", $"{gatewayUrl}/v1/responses", Backend.StreamedResponsesBody),
        new("messages", $"{gatewayUrl}/v1/messages", Backend.StreamedMessagesBody),
        new("auto", targets[1].Url, Backend.StreamedChatBody.Replace("bench-model", "auto", StringComparison.Ordinal)),
        new("budgeted", targets[1].Url, Backend.StreamedChatBody, Backend.BudgetedApiKey),
        new("gateway pg", $"{pgGatewayUrl}/v1/chat/completions", Backend.StreamedChatBody),
        new("budgeted pg", $"{pgGatewayUrl}/v1/chat/completions", Backend.StreamedChatBody, Backend.BudgetedApiKey),
        new("embeddings direct", $"{backendUrl}/v1/embeddings", Backend.EmbeddingsBody),
        new("embeddings YARP", $"{yarpUrl}/v1/embeddings", Backend.EmbeddingsBody),
        new("embeddings", $"{gatewayUrl}/v1/embeddings", Backend.EmbeddingsBody),
    ];
    HttpRequestMessage Post(LlmTarget target, bool stream)
    {
        var body = stream ? target.Body : target.Body.Replace("\"stream\":true,", "", StringComparison.Ordinal);
        return new HttpRequestMessage(HttpMethod.Post, target.Url)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
            Headers = { Authorization = new("Bearer", target.Key) },
        };
    }
    foreach (var target in ttftTargets)
    {
        for (var i = 0; i < 500; i++)
        {
            using var warm = Post(target, stream: false);
            using var response = await client.SendAsync(warm);
            if (!response.IsSuccessStatusCode)
            {
                Console.WriteLine($"  {target.Name}: {(int)response.StatusCode} on warm-up: {await response.Content.ReadAsStringAsync()}");
                return 1;
            }
        }
    }
    var ttft = ttftTargets.ToDictionary(t => t.Name, _ => new List<double>());
    var firstToken = Encoding.UTF8.GetBytes(Backend.FirstToken);
    for (var i = -5; i < requests; i++)
    {
        foreach (var target in ttftTargets)
        {
            // A gateway keeps working for a moment after a call's last byte (such as the price correction it posts to
            // routing beside the call); without a pause that tail lands on the next stream whenever it goes to the same gateway
            // process, as "budgeted" follows "gateway", and would be charged to the reservation.
            await Task.Delay(50);
            var started = Stopwatch.GetTimestamp();
            using var request = Post(target, stream: true);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var stream = await response.Content.ReadAsStreamAsync();
            // The first token is the first delta's text, whatever the API wraps it in (an API's opening events, such
            // as response.created, are not a token); an embeddings answer counts when it is complete.
            var received = new MemoryStream();
            var buffer = new byte[4096];
            double? first = null;
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                if (first is null)
                {
                    received.Write(buffer, 0, read);
                    if (received.GetBuffer().AsSpan(0, (int)received.Length).IndexOf(firstToken) >= 0)
                    {
                        first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }
                }
            }
            if (target.Name.StartsWith("embeddings", StringComparison.Ordinal))
            {
                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
            if (i >= 0 && response.IsSuccessStatusCode && first is not null)
            {
                ttft[target.Name].Add(first.Value);
            }
        }
    }
    Console.WriteLine($"{requests} sequential streamed calls per target, alternating; load average {LoadAverage()}");
    Console.WriteLine("  (chat unless named; spend in memory unless \"pg\"; budgeted: a tenant with daily budgets; auto: model \"auto\", routed by the routing service)");
    foreach (var target in ttftTargets)
    {
        var samples = ttft[target.Name];
        Console.WriteLine($"  {target.Name,-17} time to first token p50 {Percentile(samples, 0.5),6:F2} ms  p99 {Percentile(samples, 0.99),6:F2} ms  ({samples.Count} ok)");
    }
    double P50(string name) => Percentile(ttft[name], 0.5);
    // A target with no sample (every call refused) has a NaN p50, which no comparison passes.
    static string Verdict(double added) => added <= 1 ? "PASS" : "FAIL";
    Console.WriteLine("added to time to first token, p50, same run (target ≤ 1 ms each):");
    foreach (var (name, yarp, direct) in new[] { ("gateway", "bare YARP", "direct"), ("responses", "bare YARP", "direct"), ("messages", "bare YARP", "direct"), ("embeddings", "embeddings YARP", "embeddings direct") })
    {
        var added = P50(name) - P50(yarp);
        Console.WriteLine($"  {name,-10} − {yarp,-15} {added,6:F2} ms   {Verdict(added)}   (− direct {P50(name) - P50(direct),5:F2} ms)");
    }
    var auto = P50("auto") - P50("gateway");
    Console.WriteLine($"  auto       − explicit model  {auto,6:F2} ms   {Verdict(auto)}");
    Console.WriteLine($"  a budget's reservation in memory (budgeted − gateway) {P50("budgeted") - P50("gateway"),6:F2} ms");
    var reservation = P50("budgeted pg") - P50("gateway pg");
    Console.WriteLine($"  a budget's reservation in Postgres (budgeted pg − gateway pg) {reservation,6:F2} ms   {Verdict(reservation)}");

    var script = Path.Combine(work, "chat.lua");
    File.WriteAllText(script, $"wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{Backend.ChatBody}'\n");
    var rates = targets.ToDictionary(t => t.Name, _ => new List<double>());
    var invalid = false;
    for (var round = 0; round <= 3; round++)
    {
        foreach (var (name, url) in targets)
        {
            var info = new ProcessStartInfo(wrkForLlm, ["-t1", "-c32", "-d5s", "--latency", "-s", script, "-H", $"Authorization: Bearer {Backend.ApiKey}", url])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(info)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            var result = WrkResult.Parse(output);
            if (round > 0) // round 0 warms up
            {
                rates[name].Add(result.RequestsPerSecond);
                invalid |= result.Errors > 0;
                Console.WriteLine($"round {round}   {name,-8} {result.RequestsPerSecond,9:N0} completions/s   p50 {result.P50Ms,6:F2} ms   "
                    + $"errors {(result.Errors == 0 ? "0" : $"{result.Errors} ({result.ErrorDetail}) — NOT VALID")}");
            }
        }
    }
    Console.WriteLine($"median completions/s: direct {Percentile(rates["direct"], 0.5):N0}, gateway {Percentile(rates["gateway"], 0.5):N0} ({Percentile(rates["gateway"], 0.5) / Percentile(rates["direct"], 0.5):F2}×)");
    return invalid ? 1 : 0;
}

// /mcp against /connectors/{id}, both through the gateway, through the official SDK client: one session to each, warmed
// up, then sequential calls alternating between them (so drift on the machine lands on all alike), then tools/list. The
// same against a second gateway whose pinning is at its default (enforce), and straight to the first MCP server, as
// reference lines, in the same alternation.
// Last, the gateway process's CPU time per call (from /proc, so steadier than latency on a busy machine): each target
// alone for a batch of calls.
static async Task<int> RunMcpAsync(int requests, string gatewayUrl, int gatewayPid, string pinnedGatewayUrl, int pinnedGatewayPid, string serverUrl, int? hold)
{
    const int WarmUp = 200, Block = 50;
    var arguments = new Dictionary<string, object?> { ["query"] = "bench" };
    var loadAtStart = LoadAverage();
    async Task<McpClient> ConnectAsync(string url)
    {
        var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
        http.DefaultRequestHeaders.Authorization = new("Bearer", Backend.ApiKey);
        return await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(url),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, http, ownsHttpClient: true));
    }
    // Name, session, the tool's name there, how many tools it lists, the gateway process that serves it (0: none).
    (string Name, McpClient Client, string Tool, int Tools, int Pid)[] targets =
    [
        ("/mcp", await ConnectAsync($"{gatewayUrl}/mcp"), "mcp:s0__tool_00", McpBench.Servers * McpBench.Tools, gatewayPid),
        ("/connectors/mcp:s0", await ConnectAsync($"{gatewayUrl}/connectors/mcp:s0"), "tool_00", McpBench.Tools, gatewayPid),
        ("pinning /mcp", await ConnectAsync($"{pinnedGatewayUrl}/mcp"), "mcp:s0__tool_00", McpBench.Servers * McpBench.Tools, pinnedGatewayPid),
        ("pinning /connectors/mcp:s0", await ConnectAsync($"{pinnedGatewayUrl}/connectors/mcp:s0"), "tool_00", McpBench.Tools, pinnedGatewayPid),
        ("direct s0", await ConnectAsync($"{serverUrl}/mcp"), "tool_00", McpBench.Tools, 0),
    ];
    if (hold is { } holdSeconds)
    {
        // Only tools/call through /mcp, sequentially, for that long: a profile of the aggregate's call path.
        Console.WriteLine($"gateway PID {gatewayPid}: tools/call through /mcp for {holdSeconds} s from now");
        var (_, mcp, mcpTool, _, _) = targets[0];
        var until = Stopwatch.GetTimestamp() + (long)(holdSeconds * Stopwatch.Frequency);
        var held = 0;
        while (Stopwatch.GetTimestamp() < until)
        {
            await mcp.CallToolAsync(mcpTool, arguments);
            held++;
        }
        Console.WriteLine($"held      {held} calls, {held / (double)holdSeconds:F0}/s");
        return 0;
    }
    var cpu = new Dictionary<string, (double Call, double List)>();
    var calls = targets.ToDictionary(t => t.Name, _ => new List<double>());
    var lists = targets.ToDictionary(t => t.Name, _ => new List<double>());
    var blocks = targets.ToDictionary(t => t.Name, _ => new List<double>());
    var wrong = new List<string>();
    try
    {
        for (var i = -WarmUp; i < requests; i++)
        {
            foreach (var (name, client, tool, _, _) in targets)
            {
                var started = Stopwatch.GetTimestamp();
                var result = await client.CallToolAsync(tool, arguments);
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (result.IsError == true || result.Content.FirstOrDefault() is not ModelContextProtocol.Protocol.TextContentBlock { Text: "tool_00: bench" })
                {
                    wrong.Add($"{name}: tools/call answered {System.Text.Json.JsonSerializer.Serialize(result.Content)}");
                }
                if (i >= 0)
                {
                    calls[name].Add(elapsed);
                }
            }
            if (i == -1)
            {
                await Task.Delay(TimeSpan.FromSeconds(1)); // the background JIT's tier-1 code
            }
        }
        for (var i = -20; i < requests; i++)
        {
            foreach (var (name, client, _, expected, _) in targets)
            {
                var started = Stopwatch.GetTimestamp();
                var tools = await client.ListToolsAsync();
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (tools.Count != expected)
                {
                    wrong.Add($"{name}: tools/list listed {tools.Count} tools instead of {expected}");
                }
                if (i >= 0)
                {
                    lists[name].Add(elapsed);
                }
            }
        }
        // The same calls in runs of Block per target, the runs alternating: an agent's calls in a row through one endpoint,
        // where the per-call alternation above meets every process's threads asleep (a wake-up per thread hand-off).
        for (var i = 0; i < Math.Max(1, requests / Block); i++)
        {
            foreach (var (name, client, tool, _, _) in targets)
            {
                for (var j = 0; j < Block; j++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await client.CallToolAsync(tool, arguments);
                    blocks[name].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }
        // The gateway's CPU per call: /proc counts in 10 ms ticks, so a batch long enough for a few hundred of them.
        foreach (var (name, client, tool, _, pid) in targets.Where(t => t.Pid != 0))
        {
            var before = CpuSeconds(pid);
            for (var i = 0; i < 500; i++)
            {
                await client.CallToolAsync(tool, arguments);
            }
            var perCall = (CpuSeconds(pid) - before) * 1e6 / 500;
            before = CpuSeconds(pid);
            for (var i = 0; i < 200; i++)
            {
                await client.ListToolsAsync();
            }
            cpu[name] = (perCall, (CpuSeconds(pid) - before) * 1e6 / 200);
        }
    }
    finally
    {
        foreach (var target in targets)
        {
            await target.Client.DisposeAsync();
        }
    }

    Console.WriteLine($"{McpBench.Servers} MCP servers (official SDK, stateless Streamable HTTP) × {McpBench.Tools} tools; gateway with Mcp:Pinning=off, "
        + $"\"pinning\": a second gateway with its default (enforce); {requests} sequential calls per target, alternating, after {WarmUp} warm-up calls; load average at the start {loadAtStart}, now {LoadAverage()}");
    Console.WriteLine("                                 tools/call p50    p99      tools/list p50    p99          gateway CPU per call, per list");
    foreach (var (name, _, _, count, _) in targets)
    {
        var gatewayCpu = cpu.TryGetValue(name, out var c) ? $"{c.Call,6:F0} µs {c.List,8:F0} µs" : "";
        Console.WriteLine($"  {name,-28} {Percentile(calls[name], 0.5),9:F2} ms {Percentile(calls[name], 0.99),7:F2} ms   {Percentile(lists[name], 0.5),9:F2} ms {Percentile(lists[name], 0.99),7:F2} ms   ({count,3} tools)   {gatewayCpu}");
    }
    double P50(Dictionary<string, List<double>> samples, string name) => Percentile(samples[name], 0.5);
    foreach (var prefix in new[] { "", "pinning " })
    {
        var added = P50(calls, $"{prefix}/mcp") - P50(calls, $"{prefix}/connectors/mcp:s0");
        var list = P50(lists, $"{prefix}/mcp");
        Console.WriteLine($"{(prefix == "" ? "Mcp:Pinning=off" : "pinning (enforce)"),-18} tools/call added p50 (/mcp − /connectors): {added,5:F2} ms  (≤ 1 ms: {(added <= 1 ? "PASS" : "FAIL")});  tools/list /mcp p50 {list:F2} ms  (≤ 20 ms: {(list <= 20 ? "PASS" : "FAIL")})");
        var inRuns = P50(blocks, $"{prefix}/mcp") - P50(blocks, $"{prefix}/connectors/mcp:s0");
        Console.WriteLine($"{"",-18} in runs of {Block} calls per target: /mcp {P50(blocks, $"{prefix}/mcp"):F2} ms, /connectors {P50(blocks, $"{prefix}/connectors/mcp:s0"):F2} ms p50, added {inRuns:F2} ms  (≤ 1 ms: {(inRuns <= 1 ? "PASS" : "FAIL")})");
    }
    foreach (var error in wrong.Distinct().Take(10))
    {
        Console.WriteLine($"  wrong answer: {error}");
    }
    return wrong.Count == 0 ? 0 : 1;
}

static async Task<StreamSample> StreamOnceAsync(HttpClient client, string url)
{
    var started = Stopwatch.GetTimestamp();
    using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
    await using var stream = await response.Content.ReadAsStreamAsync();
    var buffer = new byte[4096];
    var text = new StringBuilder();
    double? ttfb = null;
    int read;
    while ((read = await stream.ReadAsync(buffer)) > 0)
    {
        ttfb ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds; // the first event's bytes
        text.Append(Encoding.UTF8.GetString(buffer, 0, read));
    }
    var total = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    var events = Regex.Count(text.ToString(), "\n\n");
    var error = response.StatusCode != HttpStatusCode.OK ? $"answered {(int)response.StatusCode}"
        : response.Content.Headers.ContentType?.MediaType != "text/event-stream" ? $"content type {response.Content.Headers.ContentType}"
        : events != Backend.StreamEvents ? $"{events} events instead of {Backend.StreamEvents}"
        : null;
    return new StreamSample(ttfb ?? total, total, error);
}

static async Task<WrkResult> WrkAsync(string wrk, Target target, int seconds)
{
    // The same request to every target: the key goes to the proxies and the backend too, which ignore it.
    var info = new ProcessStartInfo(wrk, ["-t1", "-c32", $"-d{seconds}s", "--latency", "-H", $"Authorization: Bearer {Backend.ApiKey}",
        .. target.Origin is null ? Array.Empty<string>() : ["-H", $"Origin: {target.Origin}"], target.Url])
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    };
    using var process = Process.Start(info)!;
    var output = process.StandardOutput.ReadToEndAsync();
    var errorOutput = process.StandardError.ReadToEndAsync();
    await process.WaitForExitAsync();
    return WrkResult.Parse(await output + await errorOutput);
}

static string Describe(Target target, WrkResult result) =>
    $"{target.Name,-10} {result.RequestsPerSecond,9:N0} req/s   p50 {result.P50Ms,6:F2} ms   p99 {result.P99Ms,6:F2} ms   {(result.CpuMicrosecondsPerRequest is { } cpu ? $"CPU {cpu,5:F0} µs/req   " : "")}errors {(result.Errors == 0 ? "0" : $"{result.Errors} ({result.ErrorDetail}) — NOT VALID")}";

// The gateway as deployed (deploy/k8s/gateway.yaml), only its addresses and the key changed; the built
// Agent33.Gateway.dll run from this directory, so its appsettings.json applies as in the container.
// In llm mode the load is one key's POSTs, which the per-key write limit (5,000/s by default) would partly answer with
// 429s: there it is raised above anything this machine reaches, so the figures are the endpoint's, not the limiter's.
// With a connection string, LLM spend (budgets' reservations and settlements) is kept in that Postgres database, as deployed.
// more: further settings (mcp mode's connectors and Mcp:Pinning).
static Process StartGateway(string url, string backendUrl, string routingUrl, bool unlimitedWrites, string? spendDatabase = null,
    Dictionary<string, string?>? more = null, string? name = null) => Children.Start(
    name ?? (spendDatabase is null ? "gateway" : "gateway (Postgres)"), "dotnet", [Path.Combine(AppContext.BaseDirectory, "Agent33.Gateway.dll")], AppContext.BaseDirectory, new Dictionary<string, string?>
    {
        ["RateLimiting__WritesPerSecond"] = unlimitedWrites ? "10000000" : null,
        ["ConnectionStrings__gateway"] = spendDatabase,
        ["ASPNETCORE_URLS"] = url,
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = "true", // the manifest sets it: the gateway sits behind an ingress
        ["Cors__AllowedOrigins__0"] = Backend.BrowserOrigin,
        ["Auth__ApiKeys__0__Key"] = Backend.ApiKey,
        ["Auth__ApiKeys__0__Tenant"] = "bench",
        ["Auth__ApiKeys__0__Scopes__0"] = "write",
        // A tenant with budgets no run reaches: its calls reserve and settle (in memory, or in spendDatabase when given).
        ["Auth__ApiKeys__1__Key"] = Backend.BudgetedApiKey,
        ["Auth__ApiKeys__1__Tenant"] = "bench-budgeted",
        ["Auth__ApiKeys__1__Scopes__0"] = "write",
        ["Llm__Budgets__bench-budgeted__DailyTokens"] = "1000000000000000",
        ["Llm__Budgets__bench-budgeted__DailyUsd"] = "1000000000",
        ["Connectors__0__Id"] = "llm:bench",
        ["Connectors__0__Kind"] = "http",
        ["Connectors__0__Destination"] = backendUrl,
        // The OpenAI endpoint's provider: the same backend's chat completions (llm mode). The routing service runs in
        // llm mode only (elsewhere a closed loopback port: an explicit model never waits for one).
        ["services__routing__http__0"] = routingUrl,
        ["ServiceApiKey"] = Backend.ServiceApiKey,
        ["Llm__EmbeddingModel"] = "bench-embedding",
        ["Connectors__1__Id"] = "llm:provider",
        ["Connectors__1__Kind"] = "llm",
        ["Connectors__1__Destination"] = $"{backendUrl}/v1",
        ["Connectors__1__Models__0"] = "bench-model",
        ["Connectors__1__Models__1"] = "bench-embedding",
        // Defaults kept: retry (2), breaker, OTel metrics and tracing as ServiceDefaults set them (Prometheus
        // /metrics; no OTLP endpoint, as in the manifest), appsettings.json's log levels, and the write rate
        // limit — the old RateLimiting__WritesPerSecond=0 is gone because the limiter never counts GETs, so a
        // production deployment would not limit this load either.
    }.Concat(more ?? []).ToDictionary());

// The routing service as the AppHost runs it, every effort's model the backend's, so "auto" reaches the same provider;
// its learning service is a closed port (the decisions' learning signals are dropped, as when it is down).
static Task<ServiceProcess> StartRoutingAsync() => ServiceProcess.StartAsync("Agent33.Routing", new Dictionary<string, string>
{
    ["Auth:ApiKeys:0:Key"] = Backend.ServiceApiKey,
    ["Auth:ApiKeys:0:Tenant"] = "default",
    ["Auth:ApiKeys:0:Scopes:0"] = "write",
    ["Auth:ApiKeys:0:Scopes:1"] = "service",
    ["services:learning-service:http:0"] = "http://127.0.0.1:9",
    ["Routing:Models:Low"] = "bench-model",
    ["Routing:Models:Medium"] = "bench-model",
    ["Routing:Models:High"] = "bench-model",
});

// nginx as it is usually put in front of an HTTP/1.1 service: one worker, pooled upstream connections.
// Everything it writes (pid, logs, temp files) stays in the bench's temp directory, so it needs no system file.
static Process StartNginx(string nginx, string dir, string port, string backendUrl)
{
    var config = Path.Combine(dir, "nginx.conf");
    File.WriteAllText(config, $$"""
        worker_processes 1;
        pid {{dir}}/nginx.pid;
        error_log {{dir}}/error.log warn;
        events { worker_connections 1024; }
        http {
            access_log off;
            client_body_temp_path {{dir}}/client_body;
            proxy_temp_path {{dir}}/proxy;
            fastcgi_temp_path {{dir}}/fastcgi;
            uwsgi_temp_path {{dir}}/uwsgi;
            scgi_temp_path {{dir}}/scgi;
            # Kestrel and YARP keep a connection for any number of requests; nginx closes one after 1,000 by
            # default, which would measure reconnects instead of proxying.
            keepalive_requests 1000000;
            upstream backend {
                server {{new Uri(backendUrl).Authority}};
                keepalive 32;
                keepalive_requests 1000000;
            }
            server {
                listen 127.0.0.1:{{port}};
                location / {
                    proxy_pass http://backend;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                }
            }
        }
        """);
    return Children.Start("nginx", nginx, ["-p", dir, "-e", Path.Combine(dir, "error.log"), "-c", config, "-g", "daemon off;"], dir);
}

static async Task RunBackendAsync(int port)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    var app = builder.Build();
    app.MapGet("/v1/stream", Backend.StreamAsync);
    app.MapPost("/v1/chat/completions", Backend.ChatAsync);
    app.MapPost("/v1/embeddings", () => Results.Text(Backend.EmbeddingsAnswer, "application/json"));
    app.MapGet("/{**path}", () => Results.Text(Backend.ModelsBody, "application/json"));
    await app.RunAsync();
}

// YARP 2.3 as its documentation starts it, nothing added: what the gateway's own work is measured against.
static async Task RunBareYarpAsync(int port, string destination)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    // The log levels of the gateway's appsettings.json (and of the ASP.NET Core templates): with none, the slim
    // builder's console logger would write six lines per proxied request and measure the console instead.
    builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Yarp", LogLevel.Warning);
    builder.Services.AddReverseProxy().LoadFromMemory(
        [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "/{**rest}" } }],
        [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = destination } } }]);
    var app = builder.Build();
    app.MapReverseProxy();
    await app.RunAsync();
}

// mcp mode's upstream: the official SDK's MCP server, stateless Streamable HTTP at /mcp, with McpBench.Tools tools
// (tool_00 …) made from a delegate, each taking a string and answering a short text; /v1/models answers as the backend
// does, so WaitUpAsync sees it up. No logging.
static async Task RunMcpServerAsync(int port)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    builder.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = true).WithTools(Enumerable.Range(0, McpBench.Tools).Select(i =>
    {
        var name = $"tool_{i:00}";
        return McpServerTool.Create(
            ([System.ComponentModel.Description("What to look up.")] string query) => $"{name}: {query}",
            new McpServerToolCreateOptions { Name = name, Description = $"Bench tool {i}: echoes its query.", ReadOnly = true });
    }));
    var app = builder.Build();
    app.MapMcp("/mcp");
    app.MapGet("/v1/models", () => Results.Text(Backend.ModelsBody, "application/json"));
    await app.RunAsync();
}

// Up means answering the backend's body with 200, so a proxy that answers but routes nowhere is caught here.
static async Task WaitUpAsync(string url)
{
    using var client = new HttpClient();
    client.DefaultRequestHeaders.Authorization = new("Bearer", Backend.ApiKey);
    var last = "no answer";
    for (var i = 0; i < 300; i++)
    {
        try
        {
            using var response = await client.GetAsync(url);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK && body == Backend.ModelsBody)
            {
                return;
            }
            last = $"{(int)response.StatusCode} {body}";
        }
        catch (HttpRequestException ex)
        {
            last = ex.Message;
        }
        Children.ThrowIfAnyExited();
        await Task.Delay(100);
    }
    throw new InvalidOperationException($"{url} did not come up: {last}");
}

// wrk and nginx come from Debian's packages: installed here when running as root, else the way to do it is printed.
static string? EnsureTool(string name, string[] packages)
{
    string? Find() => new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin" }
        .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
    if (Find() is { } found)
    {
        return found;
    }
    if (Environment.UserName != "root")
    {
        Console.Error.WriteLine($"{name} is missing; install it with: sudo apt-get install -y {packages[0]}");
        return null;
    }
    foreach (var package in packages)
    {
        // A machine whose package lists were never fetched knows no package: fetch them once, then retry.
        if (Run("apt-get", ["install", "-y", package]) || (Run("apt-get", ["update"]) && Run("apt-get", ["install", "-y", package])))
        {
            break;
        }
    }
    if (Find() is { } installed)
    {
        return installed;
    }
    Console.Error.WriteLine($"{name} could not be installed with apt-get install -y {string.Join(" or ", packages)}");
    return null;

    static bool Run(string file, string[] arguments)
    {
        Console.WriteLine($"$ {file} {string.Join(' ', arguments)}");
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true };
        info.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var process = Process.Start(info)!;
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0;
    }
}

static string Url(int port) => $"http://127.0.0.1:{port}";

static string Port(string url) => new Uri(url).Port.ToString(CultureInfo.InvariantCulture);

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

// CPU time (user + system) of a process and its descendants (nginx's worker) in seconds, from /proc (which counts
// in USER_HZ, 100 per second).
static double CpuSeconds(int pid)
{
    if (pid == 0 || !File.Exists($"/proc/{pid}/stat"))
    {
        return 0;
    }
    // Fields after the command (which is in parentheses and may hold spaces): utime and stime are the 12th and 13th.
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    var seconds = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
    {
        var children = Path.Combine(task, "children");
        if (File.Exists(children))
        {
            seconds += File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Sum(child => CpuSeconds(int.Parse(child, CultureInfo.InvariantCulture)));
        }
    }
    return seconds;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

static double Median(IEnumerable<double> values) => Percentile(values, 0.5);

// Nearest rank (the median of an even count averages the middle two): with 50 samples the p99 is the largest.
static double Percentile(IEnumerable<double> values, double p)
{
    var sorted = values.Order().ToArray();
    if (sorted.Length == 0)
    {
        return double.NaN;
    }
    if (p == 0.5 && sorted.Length % 2 == 0)
    {
        return (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
    return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <param name="Pid">The process that serves the target (with its children: nginx's worker), whose CPU time is measured; 0 for none.</param>
/// <summary>A proxy under load; <paramref name="Origin"/>: the requests are a browser's (an <c>Origin</c> header, so CORS applies).</summary>
internal sealed record Target(string Name, string Url, int Pid = 0, string? Origin = null);

internal sealed record StreamSample(double TtfbMs, double TotalMs, string? Error);

/// <summary>What one wrk run printed: throughput, latency percentiles and every kind of error it counts.</summary>
internal sealed partial record WrkResult(double RequestsPerSecond, long Requests, double P50Ms, double P99Ms, long Non2xx, long SocketErrors, string ErrorDetail)
{
    /// <summary>The target process's CPU time per request in microseconds (user + system, its children included), if measured.</summary>
    public double? CpuMicrosecondsPerRequest { get; init; }

    public long Errors => Non2xx + SocketErrors;

    public static WrkResult Parse(string output)
    {
        var rate = RateLine().Match(output);
        var p50 = Percentile().Match(output);
        var p99 = Percentile().Matches(output).FirstOrDefault(m => m.Groups["p"].Value == "99");
        if (!rate.Success || !p50.Success || p99 is null)
        {
            throw new InvalidOperationException($"wrk printed no result:\n{output}");
        }
        var socket = SocketErrorsLine().Match(output);
        long socketErrors = socket.Success ? Enumerable.Range(1, 4).Sum(g => long.Parse(socket.Groups[g].Value, CultureInfo.InvariantCulture)) : 0;
        var non2xx = Non2xxLine().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var detail = string.Join(", ", new[] { non2xx > 0 ? $"non-2xx/3xx {non2xx}" : null, socketErrors > 0 ? socket.Value.Trim() : null }.OfType<string>());
        var requests = RequestsLine().Match(output) is { Success: true } r ? long.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new WrkResult(double.Parse(rate.Groups[1].Value, CultureInfo.InvariantCulture), requests, Milliseconds(p50), Milliseconds(p99), non2xx, socketErrors, detail);
    }

    private static double Milliseconds(Match m) => double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture) * m.Groups["u"].Value switch
    {
        "us" => 0.001,
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        var unit => throw new InvalidOperationException($"wrk time unit '{unit}'"),
    };

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RateLine();

    [GeneratedRegex(@"(\d+) requests in ")]
    private static partial Regex RequestsLine();

    // Under "Latency Distribution": "     50%    1.10ms" (wrk's units: us, ms, s, m).
    [GeneratedRegex(@"^\s+(?<p>50|99)%\s+(?<v>[\d.]+)(?<u>us|ms|s|m)\s*$", RegexOptions.Multiline)]
    private static partial Regex Percentile();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrorsLine();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xxLine();
}

/// <summary>The backend's answers, shared with the client that checks them.</summary>
internal static class Backend
{
    public const string ApiKey = "bench-key";
    public const string BudgetedApiKey = "bench-budgeted-key";
    /// <summary>The origin of the browser the bench's "browser" target stands for (allowed by the gateway's CORS).</summary>
    public const string BrowserOrigin = "https://app.example";

    public const string ModelsBody = """{"object":"list","data":[{"id":"bench-model"}]}""";
    public const int StreamEvents = 11;
    public static readonly TimeSpan StreamInterval = TimeSpan.FromMilliseconds(100);
    /// <summary>A chat stream's pace: only its first token is timed, so its tokens come quickly and a run stays short.</summary>
    public static readonly TimeSpan ChatStreamInterval = TimeSpan.FromMilliseconds(10);

    public const string ChatBody = """{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}""";
    public const string StreamedChatBody = """{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"hi"}]}""";
    public const string StreamedResponsesBody = """{"model":"bench-model","stream":true,"store":false,"input":"hi"}""";
    public const string StreamedMessagesBody = """{"model":"bench-model","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}""";
    public const string EmbeddingsBody = """{"model":"bench-embedding","input":"hi"}""";
    /// <summary>The first streamed delta's text, which marks the first token in every API's events.</summary>
    public const string FirstToken = "t0 ";
    public const string ServiceApiKey = "bench-service-key";

    public const string EmbeddingsAnswer = """{"object":"list","model":"bench-embedding","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2,0.3]}],"usage":{"prompt_tokens":1,"total_tokens":1}}""";

    /// <summary>An OpenAI-style provider: a small completion with usage, or a stream of chunks 100 ms apart and a usage chunk.</summary>
    public static async Task ChatAsync(HttpContext http)
    {
        var request = await System.Text.Json.JsonDocument.ParseAsync(http.Request.Body);
        if (!request.RootElement.TryGetProperty("stream", out var stream) || !stream.GetBoolean())
        {
            await http.Response.WriteAsync("""{"id":"c","object":"chat.completion","model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}""");
            return;
        }
        http.Response.ContentType = "text/event-stream";
        for (var i = 0; i < StreamEvents; i++)
        {
            if (i > 0)
            {
                await Task.Delay(ChatStreamInterval, http.RequestAborted);
            }
            await http.Response.WriteAsync($"data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i} \"}}}}]}}\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
        await http.Response.WriteAsync("data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":11,\"total_tokens\":16}}\n\ndata: [DONE]\n\n");
    }

    /// <summary>An LLM-style event stream: the first event at once, then one every 100 ms, about 1 s in all.</summary>
    public static async Task StreamAsync(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        for (var i = 0; i < StreamEvents; i++)
        {
            if (i > 0)
            {
                await Task.Delay(StreamInterval, http.RequestAborted);
            }
            await http.Response.WriteAsync($"id: {i}\ndata: {{\"n\":{i}}}\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }
}

/// <summary>The processes the bench started; each one's output is drained (a full pipe would stall it) and kept for errors.</summary>
internal static class Children
{
    private static readonly List<(string Name, Process Process, Queue<string> Output)> Started = [];

    public static Process Start(string name, string file, string[] arguments, string workingDirectory, Dictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment ?? [])
        {
            if (value is not null) // null: left as the process inherits it
            {
                info.Environment[key] = value;
            }
        }
        var process = Process.Start(info)!;
        var output = new Queue<string>();
        void Keep(object _, DataReceivedEventArgs e)
        {
            lock (output)
            {
                if (e.Data is not null)
                {
                    output.Enqueue(e.Data);
                }
                while (output.Count > 40)
                {
                    output.Dequeue();
                }
            }
        }
        process.OutputDataReceived += Keep;
        process.ErrorDataReceived += Keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (Started)
        {
            Started.Add((name, process, output));
        }
        return process;
    }

    public static void ThrowIfAnyExited()
    {
        lock (Started)
        {
            foreach (var (name, process, output) in Started.Where(s => s.Process.HasExited))
            {
                lock (output)
                {
                    throw new InvalidOperationException($"{name} exited with {process.ExitCode}:\n{string.Join('\n', output)}");
                }
            }
        }
    }

    public static void StopAll()
    {
        lock (Started)
        {
            foreach (var (_, process, _) in Started)
            {
                try
                {
                    process.Kill(entireProcessTree: true); // nginx's worker too
                    process.WaitForExit(TimeSpan.FromSeconds(5));
                }
                catch (InvalidOperationException)
                {
                    // already gone
                }
                process.Dispose();
            }
            Started.Clear();
        }
    }
}

/// <summary>mcp mode's upstreams: how many MCP servers, and how many tools each.</summary>
internal static class McpBench
{
    public const int Servers = 5;
    public const int Tools = 50;
}

/// <summary>One stream the llm mode times: where it goes, what it asks, with which key.</summary>
internal sealed record LlmTarget(string Name, string Url, string Body, string Key = Backend.ApiKey);
