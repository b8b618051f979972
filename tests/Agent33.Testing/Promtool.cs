using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace Agent33.Testing;

/// <summary>
/// Prometheus' own checker (<c>promtool</c>, Debian package <c>prometheus</c>; <c>.ci/run</c> installs it):
/// lints a service's <c>/metrics</c> and runs the alert rules' unit tests. Tests that need it are
/// <see cref="PromtoolFactAttribute"/>s, skipped with a message where it is missing (never in CI).
/// </summary>
public static partial class Promtool
{
    /// <summary>The promtool on PATH (or named by <c>PROMTOOL</c>), or null.</summary>
    public static string? Path { get; } = Find();

    public static string SkipReason =>
        "promtool is not installed (apt-get install -y prometheus; .ci/run installs it), so this Prometheus check was skipped.";

    /// <summary>Runs promtool with <paramref name="arguments"/>, <paramref name="input"/> on its standard input.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> arguments, string? input = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(Path ?? throw new InvalidOperationException(SkipReason))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await stdout + await stderr).Trim());
    }

    /// <summary><c>promtool check metrics</c> on a scrape: exit 0 and nothing to say, or the test fails with its findings.</summary>
    public static async Task AssertLintCleanAsync(string exposition)
    {
        var (exitCode, output) = await RunAsync(["check", "metrics"], exposition);
        Assert.True(exitCode == 0 && output.Length == 0, $"promtool check metrics exited {exitCode}:\n{output}");
    }

    /// <summary>
    /// The lint rule the .NET runtime's gauges broke, checked without promtool so every test run sees it: only
    /// histograms and summaries may have series named <c>_count</c> (Prometheus derives those itself).
    /// </summary>
    public static void AssertNoCountSuffixOutsideHistograms(string exposition)
    {
        var offending = TypeLine().Matches(exposition)
            .Where(m => m.Groups["name"].Value.EndsWith("_count", StringComparison.Ordinal) && m.Groups["type"].Value is not ("histogram" or "summary"))
            .Select(m => $"{m.Groups["name"].Value} ({m.Groups["type"].Value})")
            .ToList();
        Assert.True(offending.Count == 0, $"non-histogram metrics named *_count: {string.Join(", ", offending)}");
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("PROMTOOL") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "promtool"))
            .FirstOrDefault(File.Exists);
    }

    [GeneratedRegex(@"^# TYPE (?<name>\S+) (?<type>\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}

/// <summary>
/// A fact that needs promtool: skipped with a clear message where it is not installed, except in CI
/// (<c>CI=true</c>), where a missing promtool is a broken install step and fails the test instead.
/// </summary>
public sealed class PromtoolFactAttribute : FactAttribute
{
    public PromtoolFactAttribute()
    {
        if (Promtool.Path is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = Promtool.SkipReason;
        }
    }
}

/// <summary>A theory that needs promtool; skipped like <see cref="PromtoolFactAttribute"/>.</summary>
public sealed class PromtoolTheoryAttribute : TheoryAttribute
{
    public PromtoolTheoryAttribute()
    {
        if (Promtool.Path is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = Promtool.SkipReason;
        }
    }
}
