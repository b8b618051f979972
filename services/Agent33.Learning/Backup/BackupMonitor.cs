using System.Diagnostics.Metrics;

namespace Agent33.Learning.Backup;

/// <summary>
/// <c>learning_backup_age_seconds</c> and <c>learning_backup_failures_total</c>, exported from start-up whether or not
/// backups are scheduled, so the <c>learning_backup_stale</c> and <c>learning_backup_failed</c> rules have data on every
/// replica. The age is that of the newest stored backup; with none at all it counts from the service's start, so a
/// system that has never been backed up goes stale once it has run longer than the limit. Who sees a backup says so
/// (<see cref="Seen"/>: <c>POST /backups</c>, the scheduler); without a schedule this service also looks at the store
/// every <see cref="ScheduledBackups.CheckInterval"/>, for backups another replica took.
/// </summary>
public sealed partial class BackupMonitor : BackgroundService
{
    public const string FailuresName = "learning_backup_failures_total";
    public const string AgeName = "learning_backup_age_seconds";

    private readonly IServiceScopeFactory _scopes;
    private readonly TimeProvider _time;
    private readonly ILogger<BackupMonitor> _logger;
    private readonly Counter<long> _failures;
    private readonly Lock _lock = new();
    private DateTimeOffset _startedAt;
    private DateTimeOffset? _newestAt;

    public BackupMonitor(IServiceScopeFactory scopes, TimeProvider time, IMeterFactory meters, ILogger<BackupMonitor> logger)
    {
        _scopes = scopes;
        _time = time;
        _logger = logger;
        _startedAt = time.GetUtcNow();
        var meter = meters.Create("Agent33.Learning");
        _failures = meter.CreateCounter<long>(FailuresName, description: "Scheduled backup runs that failed.");
        meter.CreateObservableGauge(AgeName, () => Age().TotalSeconds, unit: "s",
            description: "Age of the newest stored backup (with none: time since the service started).");
    }

    /// <summary>The newest backup is at least as new as <paramref name="createdAt"/>.</summary>
    public void Seen(DateTimeOffset createdAt)
    {
        lock (_lock)
        {
            if (_newestAt is not { } newest || createdAt > newest)
            {
                _newestAt = createdAt;
            }
        }
    }

    public void Failed() => _failures.Add(1);

    public TimeSpan Age()
    {
        lock (_lock)
        {
            return _time.GetUtcNow() - (_newestAt ?? _startedAt);
        }
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _startedAt = _time.GetUtcNow();
        _failures.Add(0); // once the telemetry's hosted service (registered first) listens: the first failure is seen too
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using (var scope = _scopes.CreateAsyncScope())
        {
            if (scope.ServiceProvider.GetService<BackupSchedule>() is not null)
            {
                return; // the scheduler looks at the store and reports what it sees
            }
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var scope = _scopes.CreateAsyncScope();
                var backups = await scope.ServiceProvider.GetRequiredService<IBackupStore>().ListAsync(stoppingToken);
                if (backups.Count > 0)
                {
                    Seen(backups.Max(b => b.CreatedAt));
                }
                await Task.Delay(ScheduledBackups.CheckInterval, _time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogCheckFailed(_logger, ex.Message); // the age keeps counting from what was last seen
                try
                {
                    await Task.Delay(ScheduledBackups.CheckInterval, _time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not look at the backup store for the backup age: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, string reason);
}
