using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Learning.Persistence;
using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Agent33.Learning.Tests.Backup;

/// <summary>
/// <c>Learning:Backups:Schedule</c> and <c>:Keep</c> on real Postgres, with a clock the test moves: a run at start
/// and every interval after the newest backup, the newest Keep kept, every run audited, failures counted and
/// retried, the newest backup's age on /metrics, one run across replicas, and off unless configured.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class ScheduledBackupsTests : IAsyncLifetime
{
    private const string Backups = "/v1/improvements/learning/backups";
    private static readonly (string, string) Daily = (BackupSchedule.ScheduleKey, "1.00:00:00");

    // A database of its own for each test (xunit makes a new instance per test): backups and audit events start empty.
    private readonly PostgresFixture _postgres = new();

    public Task InitializeAsync() => _postgres.InitializeAsync();

    public Task DisposeAsync() => _postgres.DisposeAsync();

    private LearningServiceFactory Service(params (string, string)[] settings) =>
        new(_postgres, [("Learning:PruneIntervalSeconds", "86400"), .. settings]);

    [Fact]
    public async Task Backs_up_at_start_and_every_interval_keeps_the_newest_and_audits_each_run()
    {
        await using var service = Service(Daily, (BackupSchedule.KeepKey, "2"));
        var admin = service.CreateClient(TestKeys.Admin);
        var clock = new SchedulerClock(service.Clock, service.Services.GetRequiredService<ScheduledBackups>());
        var start = service.Clock.GetUtcNow();

        await clock.WaitAsync();
        var first = Assert.Single(await ListAsync(admin));
        Assert.Equal(start, first.CreatedAt);
        await AssertAgeAndFailuresAsync(service, 0, 0);

        await clock.AdvanceAsync(TimeSpan.FromHours(23)); // not due yet
        Assert.Equal([first.BackupId], (await ListAsync(admin)).Select(b => b.BackupId));
        await AssertAgeAndFailuresAsync(service, 23 * 3600, 0);

        await clock.AdvanceAsync(TimeSpan.FromHours(1));
        var second = (await ListAsync(admin))[0];
        Assert.Equal(start.AddDays(1), second.CreatedAt);

        await clock.AdvanceAsync(TimeSpan.FromDays(1));
        var kept = await ListAsync(admin);
        Assert.Equal([start.AddDays(2), start.AddDays(1)], kept.Select(b => b.CreatedAt)); // Keep=2: the first is gone
        await AssertAgeAndFailuresAsync(service, 0, 0);

        var audit = await AuditAsync();
        Assert.Equal(3, audit.Count(a => a is ("backup_created", ScheduledBackups.Actor, _)));
        var pruned = Assert.Single(audit, a => a.Kind == "backups_pruned");
        Assert.Contains(first.BackupId, pruned.Details);
    }

    [Fact]
    public async Task A_backup_taken_by_hand_moves_the_next_run()
    {
        await using var service = Service(Daily);
        var admin = service.CreateClient(TestKeys.Admin);
        var clock = new SchedulerClock(service.Clock, service.Services.GetRequiredService<ScheduledBackups>());
        var start = service.Clock.GetUtcNow();
        await clock.WaitAsync();

        await clock.AdvanceAsync(TimeSpan.FromHours(20));
        (await admin.PostAsync(Backups, null)).EnsureSuccessStatusCode();
        await clock.AdvanceAsync(TimeSpan.FromHours(10)); // a day after the first, but only 10 h after the newest
        Assert.Equal([start.AddHours(20), start], (await ListAsync(admin)).Select(b => b.CreatedAt));

        await clock.AdvanceAsync(TimeSpan.FromHours(14));
        Assert.Equal(start.AddHours(44), (await ListAsync(admin))[0].CreatedAt);
    }

    [Fact]
    public async Task A_failed_run_is_counted_and_tried_again_until_one_succeeds()
    {
        var failing = new FailSwitch { On = true };
        await using var factory = Service(Daily);
        await using var service = factory.WithWebHostBuilder(b => b.ConfigureServices(services =>
            services.AddScoped<IBackupStore>(sp => new FailingStore(new DatabaseBackupStore(sp.GetRequiredService<LearningDbContext>()), failing))));
        var admin = service.CreateClient(TestKeys.Admin);
        var clock = new SchedulerClock(factory.Clock, service.Services.GetRequiredService<ScheduledBackups>());

        await clock.WaitAsync();
        await AssertAgeAndFailuresAsync(service, 0, 1); // no backup yet: the age counts from the start
        Assert.Equal(factory.Clock.GetUtcNow() + ScheduledBackups.RetryDelay, clock.Scheduler.NextCheckAt);

        await clock.AdvanceAsync(ScheduledBackups.RetryDelay);
        await AssertAgeAndFailuresAsync(service, 600, 2);
        Assert.Empty(await ListAsync(admin));

        failing.On = false;
        await clock.AdvanceAsync(ScheduledBackups.RetryDelay);
        Assert.Single(await ListAsync(admin));
        await clock.AdvanceAsync(TimeSpan.FromHours(2));
        await AssertAgeAndFailuresAsync(service, 7200, 2);
    }

    [Fact]
    public async Task Replicas_on_one_database_take_one_backup_between_them()
    {
        await using var one = Service(Daily);
        await using var two = Service(Daily);
        var clocks = new[]
        {
            new SchedulerClock(one.Clock, one.Services.GetRequiredService<ScheduledBackups>()),
            new SchedulerClock(two.Clock, two.Services.GetRequiredService<ScheduledBackups>()),
        };
        await Task.WhenAll(clocks.Select(c => c.WaitAsync()));
        Assert.Single(await ListAsync(one.CreateClient(TestKeys.Admin)));

        await Task.WhenAll(clocks.Select(c => c.AdvanceAsync(TimeSpan.FromDays(1))));
        Assert.Equal(2, (await ListAsync(one.CreateClient(TestKeys.Admin))).Count);
    }

    [Fact]
    public async Task Off_unless_a_schedule_is_set()
    {
        await using var service = Service();
        var admin = service.CreateClient(TestKeys.Admin);
        Assert.DoesNotContain(service.Services.GetServices<IHostedService>(), s => s is ScheduledBackups);
        Assert.Null(service.Services.GetService<ScheduledBackups>());
        Assert.Empty(await ListAsync(admin));
    }

    /// <summary>
    /// Without a schedule the age and failure series exist too (the stale and failed rules have data everywhere): a
    /// system never backed up ages from the service's start, and a backup taken by hand resets the age at once.
    /// </summary>
    [Fact]
    public async Task Without_a_schedule_the_backup_age_counts_from_start_until_a_backup_is_taken()
    {
        await using var service = Service();
        var admin = service.CreateClient(TestKeys.Admin);
        await AssertAgeAndFailuresAsync(service, 0, 0);
        service.Clock.Advance(TimeSpan.FromHours(30));
        await AssertAgeAndFailuresAsync(service, 30 * 3600, 0);

        (await admin.PostAsync(Backups, null)).EnsureSuccessStatusCode();
        service.Clock.Advance(TimeSpan.FromMinutes(1));
        await AssertAgeAndFailuresAsync(service, 60, 0);
    }

    [Theory]
    [InlineData("1.00:00:00", null, 1440, 7)]
    [InlineData("06:00:00", "3", 360, 3)]
    [InlineData("00:01:00", "1", 1, 1)]
    public void A_schedule_reads_as_an_interval_and_a_count(string schedule, string? keep, int minutes, int kept)
    {
        Assert.Equal(new BackupSchedule(TimeSpan.FromMinutes(minutes), kept), BackupSchedule.From(Settings(schedule, keep)));
    }

    [Theory]
    [InlineData("24:00:00", null, BackupSchedule.ScheduleKey, "1.00:00:00")]
    [InlineData("00:00:30", null, BackupSchedule.ScheduleKey, "at least")]
    [InlineData("daily", null, BackupSchedule.ScheduleKey, "'daily'")]
    [InlineData("1.00:00:00", "0", BackupSchedule.KeepKey, "at least 1")]
    [InlineData("1.00:00:00", "seven", BackupSchedule.KeepKey, "'seven'")]
    public void A_bad_schedule_stops_the_service_naming_the_setting(string schedule, string? keep, string setting, string hint)
    {
        var error = Assert.Throws<InvalidOperationException>(() => BackupSchedule.From(Settings(schedule, keep)));
        Assert.Contains(setting, error.Message);
        Assert.Contains(hint, error.Message);

        using var service = Service((BackupSchedule.ScheduleKey, schedule), (BackupSchedule.KeepKey, keep ?? ""));
        Assert.Contains(setting, Assert.ThrowsAny<Exception>(() => service.CreateClient()).ToString());
    }

    [Fact]
    public void No_schedule_no_scheduler() => Assert.Null(BackupSchedule.From(Settings(null, "3")));

    private static IConfiguration Settings(string? schedule, string? keep) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [BackupSchedule.ScheduleKey] = schedule,
            [BackupSchedule.KeepKey] = keep,
        }).Build();

    private static async Task<List<BackupInfo>> ListAsync(HttpClient admin) =>
        (await admin.GetFromJsonAsync<List<BackupInfo>>(Backups, new JsonSerializerOptions(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }))!;

    /// <summary>
    /// <c>learning_backup_age_seconds</c> and <c>learning_backup_failures_total</c> as Prometheus scrapes them. The
    /// exporter answers repeated scrapes from a short cache (300 ms), so this scrapes until the figures match or 10 s pass
    /// (a series not yet exported reads as NaN).
    /// </summary>
    private static async Task AssertAgeAndFailuresAsync(WebApplicationFactory<Program> service, double age, double failures)
    {
        var seen = (Age: double.NaN, Failures: double.NaN);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((seen = await AgeAndFailuresAsync(service)) != (age, failures) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.Equal((age, failures), seen);
    }

    private static async Task<(double Age, double Failures)> AgeAndFailuresAsync(WebApplicationFactory<Program> service)
    {
        var metrics = await service.CreateClient().GetStringAsync("/metrics");
        return (PrometheusText.Sample(metrics, ScheduledBackups.AgeName) ?? double.NaN, PrometheusText.Sample(metrics, ScheduledBackups.FailuresName) ?? double.NaN);
    }

    private async Task<List<(string Kind, string Actor, string Details)>> AuditAsync()
    {
        await using var connection = new NpgsqlConnection(_postgres.ConnectionString);
        await connection.OpenAsync();
        await using var select = new NpgsqlCommand("SELECT kind, actor, details::text FROM audit_events ORDER BY id", connection);
        await using var reader = await select.ExecuteReaderAsync();
        var events = new List<(string, string, string)>();
        while (await reader.ReadAsync())
        {
            events.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }
        return events;
    }

    /// <summary>Moves the fake clock only while the scheduler waits for it, and waits until it waits again.</summary>
    private sealed class SchedulerClock(FakeTimeProvider clock, ScheduledBackups scheduler)
    {
        public ScheduledBackups Scheduler => scheduler;

        public Task WaitAsync() =>
            Eventually.WaitUntilAsync(() => scheduler.NextCheckAt > clock.GetUtcNow(), "the backup scheduler to wait for its next check");

        public async Task AdvanceAsync(TimeSpan by)
        {
            await WaitAsync();
            clock.Advance(by);
            await WaitAsync();
        }
    }

    private sealed class FailSwitch
    {
        public volatile bool On;
    }

    /// <summary>The real store, whose saves fail while the switch is on (a full disk, a lost connection).</summary>
    private sealed class FailingStore(IBackupStore inner, FailSwitch failing) : IBackupStore
    {
        public Task<BackupInfo> SaveAsync(BackupInfo info, Func<Stream, CancellationToken, Task> writeEnvelope, CancellationToken cancellationToken) =>
            failing.On ? throw new IOException("No space left on device") : inner.SaveAsync(info, writeEnvelope, cancellationToken);

        public Task<IReadOnlyList<BackupInfo>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task<BackupInfo?> FindAsync(string backupId, CancellationToken cancellationToken) => inner.FindAsync(backupId, cancellationToken);

        public Task<bool> CopyToAsync(string backupId, Stream output, CancellationToken cancellationToken) => inner.CopyToAsync(backupId, output, cancellationToken);

        public Task<bool> DeleteAsync(string backupId, CancellationToken cancellationToken) => inner.DeleteAsync(backupId, cancellationToken);
    }
}

/// <summary>
/// Tests that read a gauge every learning host exports (the backup age): the OTel exporter listens to its meter by
/// name, so a host that another test runs beside this one would add its own series of the same name to /metrics.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Learning hosts alone";
}
