using System.Diagnostics;
using Agent33.Testing;

namespace Agent33.Learning.Tests;

/// <summary>The operator command line run as a new user runs it, before any database is configured.</summary>
public sealed class CommandLineConnectionTests
{
    [Theory]
    [InlineData("status")]
    [InlineData("backup")]
    public async Task Without_a_connection_string_it_names_the_setting_in_one_line_and_exits_2(string command)
    {
        var start = new ProcessStartInfo("dotnet", [ServiceProcess.BuiltService("Agent33.Learning"), command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.Combine(ReferenceFixtures.RepositoryRoot(), "services", "Agent33.Learning"), // as dotnet run --project
        };
        start.Environment.Remove("ConnectionStrings__learning");
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);

        var error = (await stderr).TrimEnd();
        Assert.True(process.ExitCode == 2, $"exit {process.ExitCode}\n{await stdout}\n{error}");
        Assert.DoesNotContain('\n', error);
        Assert.Contains("ConnectionStrings:learning", error);
        Assert.Equal("", await stdout);
    }
}
