using System.Diagnostics;
using Testcontainers.PostgreSql;

namespace Agent33.Testing;

/// <summary>
/// One Postgres server per test process: a Testcontainers container when a Docker engine answers,
/// otherwise a throwaway cluster from the machine's PostgreSQL binaries (own temp dir, free port,
/// removed when the process ends). Tests never depend on a server someone started by hand.
/// </summary>
public static class PostgresServer
{
    private static readonly Lazy<Task<IRunningServer>> Server = new(StartAsync);

    /// <summary>Connection string to the server's <c>postgres</c> database as a superuser.</summary>
    public static async Task<string> GetAdminConnectionStringAsync() => (await Server.Value).ConnectionString;

    /// <summary>
    /// A server of its own from the machine's PostgreSQL binaries, which the caller may stop and start again
    /// (outage tests). <paramref name="durable"/> keeps fsync and synchronous commit on, for benchmarks whose
    /// figures must mean what production would see. Dispose it to remove it.
    /// </summary>
    public static async Task<OwnPostgres> StartOwnAsync(bool durable = false) => await LocalCluster.StartAsync(durable);

    /// <summary>
    /// Whether <see cref="StartOwnAsync"/> can run here (the machine has initdb and postgres), so a benchmark can say
    /// what is missing and stop before it starts anything else.
    /// </summary>
    public static bool LocalBinariesInstalled => LocalCluster.FindBinaries() is not null;

    private static async Task<IRunningServer> StartAsync()
    {
        IRunningServer server = DockerAnswers()
            ? await ContainerServer.StartAsync()
            : await LocalCluster.StartAsync(durable: false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server;
    }

    private static bool DockerAnswers()
    {
        if (Environment.GetEnvironmentVariable("AGENT33_TEST_POSTGRES") is { } forced)
        {
            return forced == "container";
        }
        try
        {
            using var docker = Process.Start(new ProcessStartInfo("docker", "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (docker is null)
            {
                return false;
            }
            if (!docker.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                docker.Kill(entireProcessTree: true);
                return false;
            }
            return docker.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no docker client at all
        }
    }

    private interface IRunningServer : IDisposable
    {
        string ConnectionString { get; }
    }

    /// <summary>A Postgres server owned by one test or benchmark.</summary>
    public abstract class OwnPostgres : IDisposable
    {
        public abstract string ConnectionString { get; }

        /// <summary>Stops the server the way an operator's fast shutdown does: open sessions are terminated.</summary>
        public abstract Task StopAsync();

        /// <summary>Starts the stopped server again on the same port with the same data.</summary>
        public abstract Task StartAsync();

        public abstract void Dispose();
    }

    private sealed class ContainerServer(PostgreSqlContainer container) : IRunningServer
    {
        public string ConnectionString => container.GetConnectionString();

        public static async Task<IRunningServer> StartAsync()
        {
            var container = new PostgreSqlBuilder("postgres:17-alpine").Build();
            await container.StartAsync();
            return new ContainerServer(container);
        }

        public void Dispose() => container.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private sealed class LocalCluster(Process server, int port, string[] pgCtl, string dataDir, string options) : OwnPostgres, IRunningServer
    {
        public override string ConnectionString =>
            $"Host=127.0.0.1;Port={port};Username=postgres;Password=postgres;Database=postgres;Include Error Detail=true";

        public override Task StopAsync() => RunAsync(pgCtl[0], [.. pgCtl[1..], "-D", dataDir, "-m", "fast", "-w", "stop"]);

        public override async Task StartAsync()
        {
            await RunAsync(pgCtl[0], [.. pgCtl[1..], "-D", dataDir, "-o", options, "-l", "/dev/null", "-w", "start"]);
            Npgsql.NpgsqlConnection.ClearAllPools(); // this process's pooled sessions died with the old server
            await WaitUntilAcceptingAsync();
        }

        public static async Task<LocalCluster> StartAsync(bool durable)
        {
            var binDir = FindBinaries() ?? throw new InvalidOperationException(
                "Postgres-backed tests need Docker or the PostgreSQL binaries (initdb, postgres); " +
                "install them with 'apt-get install -y postgresql'.");
            var asRoot = Environment.UserName == "root";
            var dataDir = Directory.CreateTempSubdirectory("agent33-pg-").FullName;
            if (asRoot)
            {
                await RunAsync("chown", ["postgres", dataDir]);
            }

            var pwFile = Path.Combine(Path.GetTempPath(), $"agent33-pg-{Guid.NewGuid():N}");
            await File.WriteAllTextAsync(pwFile, "postgres"); // world-readable under the default umask, so initdb's user can read it
            try
            {
                await RunAsync(Command(asRoot, binDir, "initdb"),
                    [.. Args(asRoot, binDir, "initdb"), "-D", dataDir, "-U", "postgres", $"--pwfile={pwFile}",
                     "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
            }
            finally
            {
                File.Delete(pwFile);
            }

            var port = Loopback.FreePort();
            // A watchdog shell owns the server: it stops Postgres and deletes the data folder when the
            // test process ends, however it ends (a killed test host leaves nothing behind).
            // Tests trade crash safety for speed; benchmarks keep the server's durable defaults.
            var owner = asRoot ? "runuser -u postgres -- " : "";
            var speed = durable ? "" : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
            var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dataDir} {speed} -c max_connections=300";
            var script = $$"""
                {{owner}}"{{binDir}}/postgres" -D "{{dataDir}}" {{options}} >/dev/null 2>&1 &
                cleanup() { {{owner}}"{{binDir}}/pg_ctl" -D "{{dataDir}}" stop -m immediate >/dev/null 2>&1; rm -rf "{{dataDir}}"; exit 0; }
                trap cleanup TERM INT
                while kill -0 {{Environment.ProcessId}} 2>/dev/null; do sleep 1 & wait $!; done
                cleanup
                """;
            var process = Process.Start(new ProcessStartInfo("bash", ["-c", script]))!;

            var cluster = new LocalCluster(process, port, [Command(asRoot, binDir, "pg_ctl"), .. Args(asRoot, binDir, "pg_ctl")], dataDir, options);
            await cluster.WaitUntilAcceptingAsync();
            return cluster;
        }

        private async Task WaitUntilAcceptingAsync()
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    await using var connection = new Npgsql.NpgsqlConnection(ConnectionString);
                    await connection.OpenAsync();
                    return;
                }
                catch (Exception) when (DateTime.UtcNow < deadline && !server.HasExited)
                {
                    await Task.Delay(100);
                }
            }
        }

        public override void Dispose()
        {
            if (!server.HasExited)
            {
                // SIGTERM (Process.Kill would send SIGKILL): the watchdog stops Postgres and removes its data.
                Process.Start("kill", ["-TERM", server.Id.ToString()])?.WaitForExit();
                server.WaitForExit(10_000);
            }
        }

        private static string Command(bool asRoot, string binDir, string tool) => asRoot ? "runuser" : Path.Combine(binDir, tool);

        private static string[] Args(bool asRoot, string binDir, string tool) =>
            asRoot ? ["-u", "postgres", "--", Path.Combine(binDir, tool)] : [];

        internal static string? FindBinaries()
        {
            var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
                .Concat(Directory.Exists("/usr/lib/postgresql")
                    ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin"))
                    : []);
            foreach (var dir in candidates)
            {
                var initdb = Path.Combine(dir, "initdb");
                if (File.Exists(initdb) && File.Exists(Path.Combine(dir, "postgres")))
                {
                    // Debian links /usr/local/bin/initdb into the versioned folder; use the real one.
                    var target = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true);
                    return target is null ? dir : Path.GetDirectoryName(target.FullName);
                }
            }
            return null;
        }

        private static async Task RunAsync(string file, string[] args)
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
            }
        }
    }
}
