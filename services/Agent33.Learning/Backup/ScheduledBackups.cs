using System.Globalization;
using System.Text.Json;
using Agent33.Learning.Operations;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Persistence;
using Npgsql;

namespace Agent33.Learning.Backup;

/// <summary>
/// Takes a backup whenever the newest stored backup (whoever took it) is a whole interval old — at start when
/// there is none — through the same path as <c>POST /backups</c> (the backup store, audited as actor
/// <c>scheduler</c>), then deletes stored backups beyond the newest <c>Keep</c>. One replica at a time (a
/// Postgres advisory lock). A failed run is logged, counted (<c>learning_backup_failures_total</c>) and tried
/// again after <see cref="RetryDelay"/>; <see cref="BackupMonitor"/> exports both figures and the newest backup's age.
/// </summary>
public sealed partial class ScheduledBackups : BackgroundService
{
    public const string Actor = "scheduler";
    public const string FailuresName = BackupMonitor.FailuresName;
    public const string AgeName = BackupMonitor.AgeName;

    /// <summary>How often the store is looked at between runs (a backup taken by hand moves the next run).</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromMinutes(5);

    /// <summary>How soon a failed run is tried again (or the interval, if shorter).</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromMinutes(10);

    private const long LockKey = 0x4147_3333_424B_5550; // "AG33BKUP": one scheduled run at a time across replicas

    private readonly IServiceScopeFactory _scopes;
    private readonly BackupSchedule _schedule;
    private readonly TimeProvider _time;
    private readonly IConfiguration _configuration;
    private readonly ILogger<ScheduledBackups> _logger;
    private readonly BackupMonitor _monitor;
    private DateTimeOffset? _newestAt;

    public ScheduledBackups(IServiceScopeFactory scopes, BackupSchedule schedule, TimeProvider time, BackupMonitor monitor,
        IConfiguration configuration, ILogger<ScheduledBackups> logger)
    {
        _scopes = scopes;
        _schedule = schedule;
        _time = time;
        _configuration = configuration;
        _logger = logger;
        _monitor = monitor;
    }

    /// <summary>When the scheduler looks at the store next; set once it waits for that (tests wait for it instead of sleeping).</summary>
    public DateTimeOffset? NextCheckAt { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogScheduled(_logger, _schedule.Interval, _schedule.Keep);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = await CheckAsync(stoppingToken);
            try
            {
                var delay = Task.Delay(wait, _time, stoppingToken);
                NextCheckAt = _time.GetUtcNow() + wait;
                await delay;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Backs up if one is due; returns how long to wait before looking again.</summary>
    private async Task<TimeSpan> CheckAsync(CancellationToken ct)
    {
        var due = Due();
        try
        {
            _newestAt = await NewestAsync(ct);
            due = Due();
            if (due > _time.GetUtcNow())
            {
                return Min(due - _time.GetUtcNow(), CheckInterval);
            }
            await using var connection = new NpgsqlConnection(_configuration.GetConnectionString(LearningPersistence.ConnectionName));
            await connection.OpenAsync(ct);
            await using var turn = await SessionAdvisoryLock.TryTakeAsync(connection, LockKey, ct);
            if (turn is null)
            {
                return CheckInterval; // another replica is taking it
            }
            _newestAt = await NewestAsync(ct); // it may have just finished one
            due = Due();
            if (due > _time.GetUtcNow())
            {
                return Min(due - _time.GetUtcNow(), CheckInterval);
            }
            await RunAsync(ct);
            return Min(_schedule.Interval, CheckInterval);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return TimeSpan.Zero;
        }
        catch (Exception ex)
        {
            var retry = Min(_schedule.Interval, RetryDelay);
            if (due <= _time.GetUtcNow())
            {
                _monitor.Failed();
                LogFailed(_logger, retry, ex.Message);
            }
            else
            {
                LogCheckFailed(_logger, ex.Message); // nothing was due: not a failed run
            }
            return retry;
        }
    }

    private DateTimeOffset Due() => _newestAt is { } newest ? newest + _schedule.Interval : DateTimeOffset.MinValue;

    private async Task<DateTimeOffset?> NewestAsync(CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var backups = await scope.ServiceProvider.GetRequiredService<IBackupStore>().ListAsync(ct);
        if (backups.Count == 0)
        {
            return null;
        }
        var newest = backups.Max(b => b.CreatedAt);
        _monitor.Seen(newest);
        return newest;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var backup = await scope.ServiceProvider.GetRequiredService<BackupOperation>().CreateAsync(Actor, ct);
        _newestAt = backup.CreatedAt; // the backup operation tells the monitor
        LogBackedUp(_logger, backup.BackupId, _schedule.Interval);

        var store = scope.ServiceProvider.GetRequiredService<IBackupStore>();
        var beyond = (await store.ListAsync(ct))
            .OrderByDescending(b => b.CreatedAt).ThenByDescending(b => b.BackupId, StringComparer.Ordinal)
            .Skip(_schedule.Keep).Select(b => b.BackupId).ToList();
        var deleted = new List<string>();
        foreach (var id in beyond)
        {
            if (await store.DeleteAsync(id, ct))
            {
                deleted.Add(id);
            }
        }
        if (deleted.Count > 0)
        {
            var db = scope.ServiceProvider.GetRequiredService<LearningDbContext>();
            db.AuditEvents.Add(new AuditEvent
            {
                OccurredAt = _time.GetUtcNow(),
                Kind = "backups_pruned",
                Actor = Actor,
                Details = JsonSerializer.Serialize(new { keep = _schedule.Keep, deleted }),
            });
            await db.SaveChangesAsync(ct);
            LogPruned(_logger, deleted.Count, _schedule.Keep, string.Join(", ", deleted));
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduled backups every {Interval}, keeping the newest {Keep}")]
    private static partial void LogScheduled(ILogger logger, TimeSpan interval, int keep);

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduled backup {BackupId} taken; the next is due in {Interval}")]
    private static partial void LogBackedUp(ILogger logger, string backupId, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} backup(s) beyond the newest {Keep}: {BackupIds}")]
    private static partial void LogPruned(ILogger logger, int count, int keep, string backupIds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduled backup failed; trying again in {Retry}: {Reason}")]
    private static partial void LogFailed(ILogger logger, TimeSpan retry, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not look at the backup store: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, string reason);
}
