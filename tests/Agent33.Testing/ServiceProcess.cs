using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;

namespace Agent33.Testing;

/// <summary>
/// One of our services running as a real process on a loopback port, as it runs in production: for tests that
/// kill it (<c>kill -9</c>) and start it again, and for benchmarks that measure its memory.
/// Settings are passed as environment variables (<c>Section:Key</c> becomes <c>Section__Key</c>).
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly string _dll;
    private readonly Dictionary<string, string> _environment;
    private readonly ConcurrentQueue<string> _output = new();
    private Process _process = null!;

    private ServiceProcess(string dll, Dictionary<string, string> environment, int port)
    {
        _dll = dll;
        _environment = environment;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public Uri BaseAddress { get; }

    /// <summary>Starts <paramref name="service"/> (e.g. <c>Agent33.Learning</c>) and waits until it answers <c>/alive</c>.</summary>
    public static async Task<ServiceProcess> StartAsync(string service, IReadOnlyDictionary<string, string> settings)
    {
        var port = Loopback.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        var running = new ServiceProcess(BuiltService(service), environment, port);
        await running.StartAsync();
        return running;
    }

    /// <summary>A client that sends <paramref name="key"/> as a bearer token.</summary>
    public HttpClient CreateClient(string? key, int maxConnections = 64)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = maxConnections })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing, in-flight requests cut off.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as Kubernetes and the AppHost stop a service; returns how long it took to exit.</summary>
    public async Task<TimeSpan> StopAsync(TimeSpan patience)
    {
        var clock = Stopwatch.StartNew();
        using (var signal = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await signal.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(patience);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Path.GetFileName(_dll)} did not stop within {patience.TotalSeconds:F0} s of SIGTERM:\n{Output}");
        }
        return clock.Elapsed;
    }

    /// <summary>Starts the service again on the same port with the same settings.</summary>
    public async Task RestartAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
        }
        _process.Dispose();
        await StartAsync();
    }

    /// <summary>Starts a new high-water mark from the current resident set (Linux: 5 into /proc/PID/clear_refs), to measure one phase.</summary>
    public void ResetPeakMemory() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

    /// <summary>The process's resident-set high-water mark (VmHWM) in MiB.</summary>
    public double PeakMegabytes()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>What the service wrote to stdout and stderr (the last 10,000 lines), for failure messages and leak checks.</summary>
    public string Output => string.Join('\n', _output);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    private async Task StartAsync()
    {
        var info = new ProcessStartInfo("dotnet", [_dll]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in _environment)
        {
            info.Environment[key] = value;
        }
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var client = CreateClient(key: null);
        client.Timeout = TimeSpan.FromSeconds(5);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Path.GetFileName(_dll)} exited with {_process.ExitCode}:\n{Output}");
            }
            try
            {
                using var alive = await client.GetAsync("/alive");
                if (alive.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{Path.GetFileName(_dll)} did not answer /alive within 90 s:\n{Output}");
            }
            await Task.Delay(100);
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }
        _output.Enqueue(line);
        while (_output.Count > 10_000 && _output.TryDequeue(out _))
        {
        }
    }

    // Services are built next to the tests in the same configuration: services/<name>/bin/<Configuration>/<tfm>/<name>.dll.
    /// <summary>The built <c>.dll</c> of <paramref name="service"/>, in the test's own configuration.</summary>
    public static string BuiltService(string service)
    {
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = tfm.Parent!;
        var dll = Path.Combine(ReferenceFixtures.RepositoryRoot(), "services", service, "bin", configuration.Name, tfm.Name, service + ".dll");
        return File.Exists(dll)
            ? dll
            : throw new FileNotFoundException($"{service} is not built at {dll}; reference its project from the test or benchmark project.");
    }
}
