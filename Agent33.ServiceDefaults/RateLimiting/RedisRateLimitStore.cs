using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Agent33.ServiceDefaults.RateLimiting;

/// <summary>
/// The Redis connection that holds every replica's per-key write buckets (<c>ConnectionStrings:ratelimit</c>), and
/// what happens when it fails: the write is decided by the replica's own bucket instead, counted in
/// <c>rate_limit_store_failures_total</c>, and logged at most once a minute. It connects in the background at start;
/// until it is connected, and whenever it is not, writes use the in-process buckets.
/// </summary>
public sealed partial class RedisRateLimitStore : IHostedService, IDisposable
{
    public const string MeterName = "Agent33.RateLimiting";
    public const string FailuresMetric = "rate_limit_store_failures_total";
    public static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a store call may take before the write falls back: a limiter check on loopback or in one zone takes
    /// well under a millisecond, so a call this slow means the store is in trouble, not busy.
    /// </summary>
    public const int TimeoutMilliseconds = 250;

    private readonly ConfigurationOptions _options;
    private readonly ILogger<RedisRateLimitStore> _logger;
    private readonly Counter<long> _failures;
    private ConnectionMultiplexer? _connection;
    private int _connectStarted;
    private long _lastLogged = long.MinValue;
    private long _suppressed;

    public RedisRateLimitStore(string connectionString, string scope, IMeterFactory meters, ILogger<RedisRateLimitStore> logger)
    {
        _options = ConfigurationOptions.Parse(connectionString);
        // Never block or queue a write behind a store that is down: fail fast and let the replica's own bucket decide.
        _options.AbortOnConnectFail = false;
        _options.BacklogPolicy = BacklogPolicy.FailFast;
        _options.ConnectTimeout = Math.Min(_options.ConnectTimeout, 5_000);
        _options.AsyncTimeout = TimeoutMilliseconds;
        _options.SyncTimeout = TimeoutMilliseconds;
        _options.ClientName ??= scope;
        Scope = scope;
        _logger = logger;
        _failures = meters.Create(MeterName).CreateCounter<long>(FailuresMetric,
            description: "Rate-limited writes decided by the replica's own bucket because the shared store (Redis) failed or was unreachable.");
    }

    /// <summary>Prefix of every partition key: the service's name, so each service keeps its own limits per key.</summary>
    public string Scope { get; }

    /// <summary>The connection when it is up; null while connecting or disconnected (the caller falls back).</summary>
    public IConnectionMultiplexer? Connection => _connection is { IsConnected: true } connection ? connection : null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _failures.Add(0); // the series exists from start-up, so the first failure of an outage is seen as an increase
        Connect();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Starts connecting once; the multiplexer then reconnects by itself after any outage.</summary>
    internal void Connect()
    {
        if (Interlocked.Exchange(ref _connectStarted, 1) == 1)
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                _connection = await ConnectionMultiplexer.ConnectAsync(_options);
            }
            catch (Exception ex)
            {
                // Only a bad configuration lands here (AbortOnConnectFail is off); writes stay on the in-process buckets.
                LogConnectFailed(_logger, ex);
            }
        });
    }

    /// <summary>A write the store could not decide: counted every time, logged at most once per <see cref="LogInterval"/>.</summary>
    public void ReportFailure(Exception? exception)
    {
        _failures.Add(1);
        var now = Stopwatch.GetTimestamp();
        var last = Interlocked.Read(ref _lastLogged);
        if (last != long.MinValue && Stopwatch.GetElapsedTime(last, now) < LogInterval)
        {
            Interlocked.Increment(ref _suppressed);
            return;
        }
        if (Interlocked.CompareExchange(ref _lastLogged, now, last) != last)
        {
            Interlocked.Increment(ref _suppressed);
            return;
        }
        var suppressed = Interlocked.Exchange(ref _suppressed, 0);
        LogStoreFailed(_logger, suppressed, exception?.GetType().Name ?? "not connected", exception);
    }

    public void Dispose() => _connection?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The shared rate-limit store (Redis) failed ({Reason}); writes are limited per replica until it answers again ({Suppressed} more since the last warning; see rate_limit_store_failures_total).")]
    private static partial void LogStoreFailed(ILogger logger, long suppressed, string reason, Exception? exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not set up the shared rate-limit store (ConnectionStrings:ratelimit); writes are limited per replica.")]
    private static partial void LogConnectFailed(ILogger logger, Exception exception);
}
