using System.Diagnostics;
using System.Net.Sockets;

namespace Agent33.Testing;

/// <summary>
/// A throwaway Redis for one test: the machine's <c>redis-server</c> on a free loopback port, nothing persisted,
/// its working folder in a temp dir. A watchdog shell owns it, so a killed test host leaves no server behind.
/// Tests that need it skip with <see cref="MissingMessage"/> when redis-server is not installed (CI installs it).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    public const string MissingMessage = "redis-server is not installed; install it with 'apt-get install -y redis-server' (.ci/run does).";

    private readonly string _binary;
    private readonly string _dir;
    private Process? _watchdog;

    private RedisServer(string binary, string dir, int port)
    {
        _binary = binary;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string, as Aspire's Redis resource gives the services.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>The <c>redis-server</c> binary on PATH or in /usr/bin, or null when it is not installed.</summary>
    public static string? FindBinary() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/usr/sbin")
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);

    public static async Task<RedisServer> StartAsync()
    {
        var binary = FindBinary() ?? throw new InvalidOperationException(MissingMessage);
        var server = new RedisServer(binary, Directory.CreateTempSubdirectory("agent33-redis-").FullName, Loopback.FreePort());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the (stopped) server again on the same port; it comes back empty.</summary>
    public async Task StartAgainAsync()
    {
        var script = $$"""
            "{{_binary}}" --port {{Port}} --bind 127.0.0.1 --save "" --appendonly no --dir "{{_dir}}" --protected-mode no --loglevel warning >/dev/null 2>&1 &
            server=$!
            cleanup() { kill -TERM $server 2>/dev/null; wait $server; exit 0; }
            trap cleanup TERM INT
            while kill -0 {{Environment.ProcessId}} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1 & wait $!; done
            cleanup
            """;
        _watchdog = Process.Start(new ProcessStartInfo("bash", ["-c", script]))!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await AnswersAsync())
        {
            if (DateTime.UtcNow > deadline || _watchdog.HasExited)
            {
                throw new InvalidOperationException($"redis-server did not start on 127.0.0.1:{Port}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Stops the server (an outage); <see cref="StartAgainAsync"/> brings it back.</summary>
    public async Task StopAsync()
    {
        if (_watchdog is { HasExited: false } watchdog)
        {
            Process.Start("kill", ["-TERM", watchdog.Id.ToString()])?.WaitForExit();
            await watchdog.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await AnswersAsync() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }

    private async Task<bool> AnswersAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return read >= 5 && buffer[0] == (byte)'+';
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A fact that needs redis-server: skipped with <see cref="RedisServer.MissingMessage"/> where it is not installed,
/// except in CI (<c>CI=true</c>), where a missing redis-server is a broken install step and fails the test instead.
/// </summary>
public sealed class RedisFactAttribute : Xunit.FactAttribute
{
    public RedisFactAttribute()
    {
        if (RedisServer.FindBinary() is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = RedisServer.MissingMessage;
        }
    }
}
