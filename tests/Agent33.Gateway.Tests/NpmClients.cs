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
        await EnsureInstalledAsync();
        var result = await RunAsync("node", [script, gateway.BaseAddress.ToString().TrimEnd('/'), key, model, .. more], TimeSpan.FromSeconds(90));
        if (result.ExitCode != 0)
        {
            var log = gateway.Output.Length == 0 ? "" : $"\nThe gateway's log:\n{gateway.Output}";
            throw new InvalidOperationException($"node {script} {model} {string.Join(' ', more)} exited with {result.ExitCode}:\n{result.Stderr}{result.Stdout}{log}");
        }
        var line = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
            ?? throw new InvalidOperationException($"node {script} printed nothing:\n{result.Stderr}");
        return (JsonObject)JsonNode.Parse(line)!;
    }

    private sealed record Result(int ExitCode, string Stdout, string Stderr);

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
