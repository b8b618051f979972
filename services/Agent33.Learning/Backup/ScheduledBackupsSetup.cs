namespace Agent33.Learning.Backup;

public static class ScheduledBackupsSetup
{
    /// <summary>
    /// Registers the backup age and failure metrics (always, from start-up) and the scheduler when
    /// <c>Learning:Backups:Schedule</c> is set.
    /// </summary>
    public static IServiceCollection AddScheduledBackups(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddHostedService(sp => sp.GetRequiredService<BackupMonitor>());
        if (BackupSchedule.From(configuration) is { } schedule)
        {
            services.AddSingleton(schedule);
            services.AddSingleton<ScheduledBackups>();
            services.AddHostedService(sp => sp.GetRequiredService<ScheduledBackups>());
        }
        return services;
    }
}
