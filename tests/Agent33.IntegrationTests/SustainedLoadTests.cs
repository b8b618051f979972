using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Agent33.AppHost;
using Xunit.Abstractions;

namespace Agent33.IntegrationTests;

/// <summary>
/// A sustained mixed load on the three services of the running application, on loopback, for a bounded time
/// (<c>AGENT33_LOAD_SECONDS</c>, 30 by default): no request may fail and no service's memory may run away.
/// Throughput and peak memory per service are written to the test output.
/// </summary>
[Collection(AppHostCollection.Name)]
[Trait("Category", "Load")]
public sealed class SustainedLoadTests(AppHostFixture app, ITestOutputHelper output)
{
    private const double PeakLimitMegabytes = 512;
    private const string WorkingSet = "dotnet_process_memory_working_set_bytes";

    private sealed record Workload(string Service, string Name, int Workers, Func<HttpClient, int, int, Task<HttpResponseMessage>> Send);

    private static readonly TimeSpan LoadDuration =
        TimeSpan.FromSeconds(int.Parse(Environment.GetEnvironmentVariable("AGENT33_LOAD_SECONDS") ?? "30", CultureInfo.InvariantCulture));

    private static readonly string[] Services = [ResourceNames.Routing, ResourceNames.Learning, ResourceNames.Gateway];

    [Fact]
    public async Task A_sustained_mixed_load_on_all_three_services_has_no_errors_and_bounded_memory()
    {
        var memory = Services.ToDictionary(s => s, _ => new List<double>());
        var runs = await RunLoadAsync(app, "the services", stop => SampleMemoryAsync(memory, stop));
        foreach (var (service, samples) in memory)
        {
            output.WriteLine($"  {service} working set: peak {samples.Max():F0} MB, first third {Median(samples, 0):F0} MB, last third {Median(samples, 2):F0} MB ({samples.Count} samples)");
        }

        await AssertEveryWorkloadServedWithoutErrorsAsync(app, runs);
        foreach (var (service, samples) in memory)
        {
            Assert.True(samples.Count >= 5, $"{service}: too few memory samples");
            Assert.True(samples.Max() < PeakLimitMegabytes, $"{service} peaked at {samples.Max():F0} MB");
            // A leak grows with the requests served; a warm service's working set levels off.
            Assert.True(Median(samples, 2) < Median(samples, 0) * 1.5 + 20, $"{service} kept growing: {Median(samples, 0):F0} → {Median(samples, 2):F0} MB");
        }
    }

    /// <summary>
    /// The same mixed load on the whole application with two replicas of each service behind Aspire's proxy (as
    /// <c>--replicas 2</c> runs it): no errors, every replica takes a share of the work (its CPU time grows), and each
    /// replica's resident memory stays bounded. Throughput and memory per replica are written to the test output.
    /// </summary>
    [Fact]
    public async Task The_same_load_on_two_replicas_of_each_service_has_no_errors_and_every_replica_serves()
    {
        var replicated = new AppHostFixture(replicas: 2);
        try
        {
            await replicated.InitializeAsync();
            var processes = new Dictionary<string, List<int>>();
            foreach (var service in Services)
            {
                processes[service] = await replicated.ReplicaProcessesAsync(service);
                Assert.True(processes[service].Count == 2, $"{service}: {processes[service].Count} running replicas");
            }
            var pids = processes.Values.SelectMany(p => p).ToList();
            var cpuBefore = pids.ToDictionary(pid => pid, CpuSeconds);
            var memory = pids.ToDictionary(pid => pid, _ => new List<double>());
            var runs = await RunLoadAsync(replicated, "six services (2 replicas of each)", stop => SampleResidentMemoryAsync(memory, stop));
            foreach (var (service, replicas) in processes)
            {
                foreach (var pid in replicas)
                {
                    output.WriteLine($"  {service} replica (pid {pid}): CPU {CpuSeconds(pid) - cpuBefore[pid]:F1} s, resident memory peak {memory[pid].Max():F0} MB");
                }
            }

            await AssertEveryWorkloadServedWithoutErrorsAsync(replicated, runs);
            foreach (var pid in pids)
            {
                Assert.True(CpuSeconds(pid) - cpuBefore[pid] > 0.2, $"replica {pid} did no work: the proxy did not spread the load");
                Assert.True(memory[pid].Max() < PeakLimitMegabytes, $"replica {pid} peaked at {memory[pid].Max():F0} MB");
            }
        }
        finally
        {
            await replicated.DisposeAsync();
        }
    }

    /// <summary>Every workload against <paramref name="fixture"/>'s services for <see cref="LoadDuration"/>, while <paramref name="sample"/> runs; the throughput of each is written to the output.</summary>
    private async Task<(Workload Workload, (int Count, List<string> Errors, double P99) Result)[]> RunLoadAsync(
        AppHostFixture fixture, string sharedBy, Func<CancellationToken, Task> sample)
    {
        var clients = Services.ToDictionary(s => s, s => fixture.CreateClient(s, AppHostFixture.ServiceKey));
        var workloads = Workloads();
        using var stop = new CancellationTokenSource(LoadDuration);
        var sampler = sample(stop.Token);
        var started = Stopwatch.StartNew();
        var results = await Task.WhenAll(workloads.Select(w => RunAsync(w, clients[w.Service], stop.Token)));
        var seconds = started.Elapsed.TotalSeconds;
        await sampler;

        output.WriteLine($"{LoadDuration.TotalSeconds:F0} s of mixed load, {Environment.ProcessorCount} cores shared by {sharedBy}, Postgres and this client:");
        foreach (var (workload, (count, errors, p99)) in workloads.Zip(results))
        {
            output.WriteLine($"  {workload.Service} {workload.Name}: {count / seconds:F0}/s ({count} requests, {workload.Workers} workers), p99 {p99:F1} ms, {errors.Count} errors");
        }
        return [.. workloads.Zip(results)];
    }

    /// <summary>No request failed and every workload was served; on failures, what the services logged about them goes to the output first.</summary>
    private async Task AssertEveryWorkloadServedWithoutErrorsAsync(AppHostFixture fixture, (Workload Workload, (int Count, List<string> Errors, double P99) Result)[] runs)
    {
        if (runs.Any(r => r.Result.Errors.Count > 0))
        {
            // Each service's console (every replica's), the lines after a fail:, so a rare failure in CI names its exception.
            foreach (var service in Services)
            {
                var log = await fixture.ConsoleLogsAsync(service);
                foreach (var at in Enumerable.Range(0, log.Count).Where(i => log[i].Contains("fail:", StringComparison.Ordinal)).Take(3))
                {
                    output.WriteLine(string.Join('\n', log.Skip(at).Take(40)));
                }
            }
        }
        Assert.All(runs, r => Assert.True(r.Result.Errors.Count == 0,
            $"{r.Workload.Service} {r.Workload.Name}: {r.Result.Errors.Count} errors, first: {r.Result.Errors.FirstOrDefault()}"));
        Assert.All(runs, r => Assert.True(r.Result.Count > 0));
    }

    /// <summary>User plus system CPU time of a process, from <c>/proc/PID/stat</c> (in clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>Each process's resident set (VmRSS), once a second.</summary>
    private static async Task SampleResidentMemoryAsync(Dictionary<int, List<double>> memory, CancellationToken stop)
    {
        using var everySecond = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            foreach (var (pid, samples) in memory)
            {
                var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                samples.Add(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0);
            }
        }
        while (await TickAsync(everySecond, stop));
    }

    private static async Task<bool> TickAsync(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static Workload[] Workloads() =>
    [
        new(ResourceNames.Routing, "decisions", 6, (c, w, i) => c.PostAsJsonAsync("/v1/routing/decisions", new
        {
            default_model = "m",
            max_tokens = 2000,
            inputs = new { prompt = $"Refactor and test the deployment pipeline, step {i} of worker {w}" },
        })),
        new(ResourceNames.Learning, "signal writes", 4, (c, w, i) => c.PostAsJsonAsync("/v1/improvements/learning/signals", new
        {
            signal_type = "performance",
            severity = "medium",
            summary = $"Load test signal {w}-{i} about a slow dependency",
            details = "Recorded by the sustained load test.",
            source = "load-test",
        })),
        new(ResourceNames.Learning, "summary reads", 2, (c, _, _) => c.GetAsync("/v1/improvements/learning/summary")),
        new(ResourceNames.Gateway, "connector calls", 6, (c, w, i) => c.GetAsync($"/connectors/{AppHostFixture.EchoConnector}/items/{w}-{i}")),
    ];

    private static async Task<(int Count, List<string> Errors, double P99)> RunAsync(Workload workload, HttpClient client, CancellationToken stop)
    {
        var errors = new List<string>();
        var latencies = new List<double>();
        await Task.WhenAll(Enumerable.Range(0, workload.Workers).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var begin = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await workload.Send(client, worker, i);
                    if (!response.IsSuccessStatusCode)
                    {
                        var error = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(CancellationToken.None)}";
                        lock (errors)
                        {
                            errors.Add(error);
                        }
                    }
                }
                catch (HttpRequestException ex)
                {
                    lock (errors)
                    {
                        errors.Add(ex.Message);
                    }
                }
                lock (latencies)
                {
                    latencies.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                }
            }
        })));
        latencies.Sort();
        return (latencies.Count, errors, latencies.Count == 0 ? 0 : latencies[(int)(latencies.Count * 0.99)]);
    }

    /// <summary>Each service's working set, once a second, from its own <c>/metrics</c>.</summary>
    private async Task SampleMemoryAsync(Dictionary<string, List<double>> memory, CancellationToken stop)
    {
        var scrapers = memory.Keys.ToDictionary(s => s, s => app.CreateClient(s, key: null));
        using var everySecond = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (!stop.IsCancellationRequested)
        {
            foreach (var (service, samples) in memory)
            {
                var text = await scrapers[service].GetStringAsync("/metrics", CancellationToken.None);
                var line = text.Split('\n').First(l => l.StartsWith(WorkingSet, StringComparison.Ordinal));
                samples.Add(double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture) / (1024 * 1024));
            }
            try
            {
                await everySecond.WaitForNextTickAsync(stop);
            }
            catch (OperationCanceledException)
            {
                // the run is over
            }
        }
    }

    private static double Median(List<double> samples, int third)
    {
        var size = Math.Max(1, samples.Count / 3);
        var part = samples.Skip(third * size).Take(size).Order().ToList();
        return part[part.Count / 2];
    }
}
