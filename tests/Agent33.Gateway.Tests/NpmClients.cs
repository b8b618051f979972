using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Agent33.Testing;

namespace Agent33.Gateway.Tests;

/// <summary>
/// The npm LLM clients in <c>tests/Agent33.Gateway.Tests/npm</c> (versions pinned in its <c>package.json</c> and
/// <c>package-lock.json</c>): installed with <c>npm ci</c> once per test run, skipped when <c>node_modules</c> was
/// installed from the same lock file, and run with node as one process per script.
/// </summary>
internal static class NpmClients
{
    public const string NodeMissing =
        "The Npm tests need node 20 or later and npm on the PATH (.ci/run installs them: Debian's nodejs and npm where they are 20 or later, NodeSource's node 20 on Debian 12)";

    private const string Stamp = ".agent33-lock-sha256";

    public static string Folder { get; } = Path.Combine(ReferenceFixtures.RepositoryRoot(), "tests", "Agent33.Gateway.Tests", "npm");

    private static readonly Lazy<Task> Installed = new(InstallAsync);

    /// <summary>Installs the packages once per test run (a failure is remembered, not retried by every test).</summary>
    public static Task EnsureInstalledAsync() => Installed.Value;

    private static async Task InstallAsync()
    {
        var node = await RunToolAsync("node", ["--version"], TimeSpan.FromSeconds(30));
        if (!Version.TryParse(node.Trim().TrimStart('v'), out var version) || version.Major < 20)
        {
            throw new InvalidOperationException($"{NodeMissing}; found node {node.Trim()}.");
        }
        await RunToolAsync("npm", ["--version"], TimeSpan.FromSeconds(30));

        var lockFile = Path.Combine(Folder, "package-lock.json");
        var hash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(lockFile)));
        var stamp = Path.Combine(Folder, "node_modules", Stamp);
        if (File.Exists(stamp) && (await File.ReadAllTextAsync(stamp)).Trim() == hash)
        {
            return; // node_modules holds what the lock file names
        }
        await RunToolAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], TimeSpan.FromMinutes(5));
        await File.WriteAllTextAsync(stamp, hash);
    }

    private static async Task<string> RunToolAsync(string tool, string[] arguments, TimeSpan timeout)
    {
        Result result;
        try
        {
            result = await RunAsync(tool, arguments, timeout);
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"{NodeMissing}: '{tool}' could not be started ({e.Message}).", e);
        }
        return result.ExitCode == 0
            ? result.Stdout
            : throw new InvalidOperationException($"'{tool} {string.Join(' ', arguments)}' in {Folder} exited with {result.ExitCode}:\n{result.Stdout}\n{result.Stderr}");
    }

    /// <summary>
    /// Runs <paramref name="script"/> (e.g. <c>openai.mjs</c>) against the gateway and returns the JSON line it printed;
    /// a script that fails throws with what it wrote to stderr (the error and what the gateway answered) and the gateway's log.
    /// </summary>
    public static async Task<JsonObject> RunScriptAsync(string script, ServiceProcess gateway, string key, string model, params string[] more)
    {
        var result = await RunNodeAsync([script, gateway.BaseAddress.ToString().TrimEnd('/'), key, model, .. more]);
        if (result.ExitCode != 0)
        {
            var log = gateway.Output.Length == 0 ? "" : $"\nThe gateway's log:\n{gateway.Output}";
            throw new InvalidOperationException($"node {script} {model} {string.Join(' ', more)} exited with {result.ExitCode}:\n{result.Stderr}{result.Stdout}{log}");
        }
        var line = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
            ?? throw new InvalidOperationException($"node {script} printed nothing:\n{result.Stderr}");
        return (JsonObject)JsonNode.Parse(line)!;
    }

    /// <summary>Runs node with <paramref name="arguments"/> in the npm folder (installed first) and returns what it did, whatever its exit code.</summary>
    public static async Task<Result> RunNodeAsync(string[] arguments)
    {
        await EnsureInstalledAsync();
        return await RunAsync("node", arguments, TimeSpan.FromSeconds(90));
    }

    /// <summary>
    /// Starts <paramref name="script"/> as a long-lived node server in the npm folder (installed first) and waits for its
    /// stdout line <c>listening &lt;port&gt;</c>: the script picks its port itself and says which.
    /// </summary>
    public static async Task<NodeServer> StartServerAsync(string script, IReadOnlyDictionary<string, string>? environment = null)
    {
        await EnsureInstalledAsync();
        var info = new ProcessStartInfo("node", [script])
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var server = new NodeServer(script, Process.Start(info)!);
        try
        {
            await server.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            server.Dispose();
            throw new TimeoutException($"node {script} did not say 'listening <port>' within 30 s:\n{server.Output}");
        }
        return server;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>A node server started by <see cref="StartServerAsync"/>: its loopback address and what it wrote; disposing kills it.</summary>
    public sealed class NodeServer : IDisposable
    {
        private readonly Process _process;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();
        private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal NodeServer(string script, Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Remember(e.Data, stdout: true);
            process.ErrorDataReceived += (_, e) => Remember(e.Data, stdout: false);
            process.Exited += (_, _) => _port.TrySetException(new InvalidOperationException($"node {script} exited with {process.ExitCode}:\n{Output}"));
            process.EnableRaisingEvents = true;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        internal Task<int> Listening => _port.Task;

        /// <summary><c>http://127.0.0.1:&lt;port&gt;</c>.</summary>
        public string Address => $"http://127.0.0.1:{_port.Task.Result}";

        /// <summary>What the server wrote to stdout and stderr (the last 2,000 lines).</summary>
        public string Output => string.Join('\n', _output);

        private void Remember(string? line, bool stdout)
        {
            if (line is null)
            {
                return;
            }
            if (stdout && line.StartsWith("listening ", StringComparison.Ordinal)
                && int.TryParse(line["listening ".Length..], System.Globalization.CultureInfo.InvariantCulture, out var port))
            {
                _port.TrySetResult(port);
            }
            _output.Enqueue(line);
            while (_output.Count > 2_000 && _output.TryDequeue(out _))
            {
            }
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(5_000);
                }
            }
            catch (InvalidOperationException)
            {
                // it was never running
            }
            _process.Dispose();
        }
    }

    private static async Task<Result> RunAsync(string file, string[] arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["npm_config_update_notifier"] = "false";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{file} {string.Join(' ', arguments)}' did not finish within {timeout.TotalSeconds:F0} s:\n{await stdout}\n{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
