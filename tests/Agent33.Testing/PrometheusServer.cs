using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace Agent33.Testing;

/// <summary>
/// A real Prometheus server (the <c>prometheus</c> binary of Debian's <c>prometheus</c> package, which .ci/run
/// installs) in a throwaway folder on a loopback port: it scrapes the given targets with its own default scrape
/// protocols (OpenMetrics first) and evaluates a rule file, so a test sees what an operator's Prometheus stores.
/// </summary>
public sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly ConcurrentQueue<string> _output = new();

    private PrometheusServer(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>The prometheus binary on PATH (or named by <c>PROMETHEUS</c>), or null.</summary>
    public static string? Binary { get; } = Find();

    public static string SkipReason =>
        "the prometheus server is not installed (apt-get install -y prometheus; .ci/run installs it), so the real-Prometheus test was skipped.";

    public HttpClient Client { get; }

    public string Output => string.Join('\n', _output);

    /// <summary>
    /// Starts Prometheus scraping <paramref name="jobs"/> (job name → target <c>host:port</c>) every
    /// <paramref name="interval"/>, evaluating <paramref name="ruleFileJson"/> (a rule file; JSON is YAML) as often.
    /// </summary>
    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, string> jobs, string ruleFileJson, TimeSpan interval)
    {
        var binary = Binary ?? throw new InvalidOperationException(SkipReason);
        var folder = Directory.CreateTempSubdirectory("agent33-prometheus-").FullName;
        var seconds = $"{(int)interval.TotalSeconds}s";
        File.WriteAllText(Path.Combine(folder, "rules.yaml"), ruleFileJson);
        File.WriteAllText(Path.Combine(folder, "prometheus.yml"), JsonSerializer.Serialize(new
        {
            global = new { scrape_interval = seconds, scrape_timeout = seconds, evaluation_interval = seconds },
            rule_files = new[] { "rules.yaml" },
            scrape_configs = jobs.Select(job => new
            {
                job_name = job.Key,
                metrics_path = "/metrics",
                static_configs = new[] { new { targets = new[] { job.Value } } },
            }),
        }));
        var port = Loopback.FreePort();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = folder,
        };
        foreach (var argument in new[]
                 {
                     $"--config.file={Path.Combine(folder, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(folder, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                 })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        var server = new PrometheusServer(process, folder, port);
        process.OutputDataReceived += (_, e) => server.Remember(e.Data);
        process.ErrorDataReceived += (_, e) => server.Remember(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {process.ExitCode}:\n{server.Output}");
            }
            try
            {
                using var ready = await server.Client.GetAsync("/-/ready");
                if (ready.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"prometheus was not ready within 30 s:\n{server.Output}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>The <c>data</c> of a Prometheus API answer (<c>/api/v1/...</c>); fails the test on an error answer.</summary>
    public async Task<JsonElement> ApiAsync(string pathAndQuery)
    {
        using var response = await Client.GetAsync(pathAndQuery);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(body.GetProperty("status").GetString() == "success", $"{pathAndQuery}: {body}");
        return body.GetProperty("data").Clone();
    }

    /// <summary>An instant query's result vector (or scalar, as one element).</summary>
    public async Task<JsonElement> QueryAsync(string promql) => (await ApiAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}")).GetProperty("result");

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        Client.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Remember(string? line)
    {
        if (line is not null && _output.Count < 2_000)
        {
            _output.Enqueue(line);
        }
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("PROMETHEUS") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "prometheus"))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>
/// A fact that needs the prometheus server: skipped with a clear message where it is not installed, except in CI
/// (<c>CI=true</c>), where a missing server is a broken install step and fails the test instead.
/// </summary>
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (PrometheusServer.Binary is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = PrometheusServer.SkipReason;
        }
    }
}
