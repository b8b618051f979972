using Agent33.AppHost;
using Microsoft.Extensions.Configuration;

namespace Agent33.Deploy.Tests;

/// <summary>The AppHost's <c>Replicas:*</c> settings and <c>--replicas N</c>, read the way the AppHost reads them.</summary>
public sealed class ReplicaSettingsTests
{
    /// <summary>As the AppHost: appsettings.json's default, then the command line (with the shortcut expanded).</summary>
    private static IReadOnlyDictionary<string, int> Read(string[] args, Dictionary<string, string?>? settings = null) =>
        ReplicaSettings.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Replicas:Default"] = "1" })
            .AddInMemoryCollection(settings ?? [])
            .AddCommandLine(ReplicaSettings.ExpandArgs(args))
            .Build());

    [Fact]
    public void Every_service_runs_once_unless_told_otherwise()
    {
        Assert.Equal(new Dictionary<string, int> { ["gateway"] = 1, ["learning-service"] = 1, ["routing"] = 1 }, Read([]));
        Assert.All(ReplicaSettings.Read(new ConfigurationBuilder().Build()).Values, count => Assert.Equal(1, count));
    }

    [Theory]
    [InlineData("--replicas 3")]
    [InlineData("--replicas=3")]
    [InlineData("--Replicas:Default=3")]
    [InlineData("--REPLICAS 3")]
    [InlineData("--replicas 5 --replicas 3")] // the later wins, as for any setting
    public void The_shortcut_applies_to_every_service(string commandLine)
    {
        Assert.All(Read(commandLine.Split(' ')).Values, count => Assert.Equal(3, count));
    }

    [Fact]
    public void A_service_setting_wins_over_the_shortcut_and_other_arguments_pass_through()
    {
        var counts = Read(["--replicas", "2", "--Replicas:gateway=5"], new() { ["Replicas:routing"] = "4" });
        Assert.Equal(5, counts["gateway"]);
        Assert.Equal(4, counts["routing"]);
        Assert.Equal(2, counts["learning-service"]);

        Assert.Equal(["--demo", "--Replicas:Default=2", "--Governance:PolicyPack=mcp-readonly"],
            ReplicaSettings.ExpandArgs(["--demo", "--replicas", "2", "--Governance:PolicyPack=mcp-readonly"]));
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("20", 20)]
    [InlineData(" 7 ", 7)]
    public void Whole_numbers_from_1_to_20_are_accepted(string text, int expected)
    {
        Assert.Equal(expected, Read([], new() { ["Replicas:learning-service"] = text })["learning-service"]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("21")]
    [InlineData("-1")]
    [InlineData("2.5")]
    [InlineData("+3")]
    [InlineData("three")]
    [InlineData("")]
    public void Any_other_count_is_an_error_naming_the_setting(string text)
    {
        var error = Assert.Throws<ReplicaSettingsException>(() => Read([$"--Replicas:gateway={text}"]));
        Assert.Contains("Replicas:gateway", error.Message);
        Assert.Contains("1 to 20", error.Message);
        Assert.Contains($"'{text}'", error.Message);
    }

    [Fact]
    public void A_bad_shortcut_names_the_shortcut()
    {
        var error = Assert.Throws<ReplicaSettingsException>(() => Read(["--replicas", "0"]));
        Assert.Contains("--replicas", error.Message);
        Assert.Contains("Replicas:Default", error.Message);

        Assert.Contains("--replicas", Assert.Throws<ReplicaSettingsException>(() => ReplicaSettings.ExpandArgs(["--replicas"])).Message);
        Assert.Contains("--replicas", Assert.Throws<ReplicaSettingsException>(() => ReplicaSettings.ExpandArgs(["--replicas", "--demo"])).Message);
    }

    [Fact]
    public void Unknown_services_and_postgres_are_errors_and_all_errors_are_reported_together()
    {
        var error = Assert.Throws<ReplicaSettingsException>(() => Read(["--Replicas:gatway=2", "--Replicas:postgres=2", "--Replicas:routing=0"]));
        Assert.Contains("Replicas:gatway names no service", error.Message);
        Assert.Contains("Replicas:postgres: Postgres runs as one server", error.Message);
        Assert.Contains("Replicas:routing must be a whole number", error.Message);
    }
}
