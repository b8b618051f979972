using System.Diagnostics;

namespace Agent33.IntegrationTests;

/// <summary>
/// Agent33.AppHost/Postgres/run-local-postgres.sh, with stand-ins for initdb, postgres and pg_isready that
/// report what initdb was handed: the password file must be private to initdb's user and gone afterwards.
/// </summary>
public sealed class LocalPostgresScriptTests : IDisposable
{
    private const string Password = "pw-7c1d5e9b3a";
    private readonly string _dir = Directory.CreateTempSubdirectory("agent33-pgscript-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)] // initdb fails: the script stops there (set -e), and the file must still go
    public async Task The_password_file_is_readable_by_initdbs_user_only_and_removed(int initdbExit)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the AppHost runs the script only where the machine's PostgreSQL binaries are used (Linux)
        }
        var bin = Path.Combine(_dir, "bin");
        var report = Path.Combine(_dir, "report");
        Directory.CreateDirectory(bin);
        Directory.CreateDirectory(report);
        // Run as root, the script runs initdb and postgres as the postgres user: let that user reach the stand-ins.
        File.SetUnixFileMode(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(bin, File.GetUnixFileMode(_dir));
        File.SetUnixFileMode(report, (UnixFileMode)0b111_111_111);

        Stub(bin, "initdb", $$"""
            for a in "$@"; do case "$a" in --pwfile=*) f="${a#--pwfile=}";; esac; done
            { echo "$f"; stat -c '%a' "$f"; cat "$f" || echo "(unreadable)"; } > {{report}}/initdb
            exit {{initdbExit}}
            """);
        Stub(bin, "postgres", "exit 0");
        Stub(bin, "pg_isready", "exit 1");

        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Agent33.sln")))
        {
            root = root.Parent!;
        }
        var script = Path.Combine(root.FullName, "Agent33.AppHost", "Postgres", "run-local-postgres.sh");
        var start = new ProcessStartInfo("bash", [script, bin, Path.Combine(_dir, "data"), "5999"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["AGENT33_PG_PASSWORD"] = Password;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);

        var seen = File.ReadAllLines(Path.Combine(report, "initdb"));
        Assert.True(seen.Length == 3, $"initdb saw {string.Join(" | ", seen)}; script: {await output} {await errors}");
        var (file, mode, content) = (seen[0], seen[1], seen[2]);
        Assert.Equal("600", mode);          // not readable by other users of the machine
        Assert.Equal(Password, content);    // but readable by initdb's own user
        Assert.False(File.Exists(file), $"{file} was left behind");
        Assert.Equal(initdbExit, process.ExitCode);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Stub(string bin, string name, string body)
    {
        var path = Path.Combine(bin, name);
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }
}
