namespace Agent33.Learning.Backup;

public static class ScheduledBackupsSetup
{
    /// <summary>Registers the scheduler when <c>Learning:Backups:Schedule</c> is set; nothing otherwise.</summary>
    public static IServiceCollection AddScheduledBackups(this IServiceCollection services, IConfiguration configuration)
    {
        if (BackupSchedule.From(configuration) is { } schedule)
        {
            services.AddSingleton(schedule);
            services.AddSingleton<ScheduledBackups>();
            services.AddHostedService(sp => sp.GetRequiredService<ScheduledBackups>());
        }
        return services;
    }
}
