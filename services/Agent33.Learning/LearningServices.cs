using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.Operations;
using Agent33.Learning.Persistence;
using System.Threading.RateLimiting;
using Agent33.ServiceDefaults.Auth;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Agent33.Learning;

public static class LearningServices
{
    public static IHostApplicationBuilder AddLearningServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddLearningServices(builder, withBackgroundWork: true);
        return builder;
    }

    /// <summary>The service's parts; the operator command line leaves out the background pruner.</summary>
    public static IServiceCollection AddLearningServices(this IServiceCollection services, IHostApplicationBuilder builder, bool withBackgroundWork)
    {
        builder.AddLearningPersistence();
        builder.Services.AddOptions<LearningOptions>().BindConfiguration(LearningOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IPostConfigureOptions<LearningOptions>, LearningOptionsNormalization>();
        builder.Services.AddSingleton<IValidateOptions<LearningOptions>, LearningOptionsValidation>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<LearningConnections>();
        builder.Services.AddSingleton<StoredSignals>();
        builder.Services.AddSingleton<SignalGroupCommit>();
        builder.Services.AddSingleton<CorruptionEvents>();
        builder.Services.AddSingleton<BackupMonitor>();
        builder.Services.AddSingleton<SignalRecorder>();
        builder.Services.AddScoped<SignalQueries>();
        builder.Services.AddScoped<SignalReports>();
        builder.Services.AddScoped<Intakes>();
        builder.Services.AddSingleton<StatePruning>();
        // An export streams a tenant's whole history: a key runs at most a few at once, so one caller cannot hold the
        // database with many (more are 429 rate_limited, as other limits).
        builder.Services.Configure<RateLimiterOptions>(o => o.AddPolicy(SignalExport.ConcurrencyPolicy, http =>
            RateLimitPartition.GetConcurrencyLimiter(http.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value ?? "",
                _ => new ConcurrencyLimiterOptions { PermitLimit = SignalExport.ConcurrentPerKey, QueueLimit = 0 })));
        if (withBackgroundWork)
        {
            builder.Services.AddHostedService<LearningPruner>();
            DatabaseUnavailableCounter.AddDatabaseUnavailableCounter(builder.Services);
            builder.Services.AddHostedService(sp => sp.GetRequiredService<CorruptionEvents>());
            builder.Services.AddScheduledBackups(builder.Configuration);
        }

        // Backups live in the database unless the operator points them at a directory.
        var backups = builder.Configuration.GetSection("Learning:Backups");
        switch ((backups["Store"] ?? "database").Trim().ToLowerInvariant())
        {
            case "database":
                builder.Services.AddScoped<IBackupStore, DatabaseBackupStore>();
                break;
            case "directory" when backups["Directory"] is { Length: > 0 } directory:
                builder.Services.AddSingleton<IBackupStore>(new DirectoryBackupStore(Path.GetFullPath(directory)));
                break;
            case "directory":
                throw new InvalidOperationException("Learning:Backups:Store is 'directory' but Learning:Backups:Directory is not set.");
            case var other:
                throw new InvalidOperationException($"Learning:Backups:Store must be 'database' or 'directory', not '{other}'.");
        }
        builder.Services.AddScoped<AuditTrail>();
        builder.Services.AddSingleton<QuarantineOperation>();
        builder.Services.AddScoped<StateReplacement>();
        builder.Services.AddScoped<BackupOperation>();
        builder.Services.AddScoped<RestoreOperation>();
        builder.Services.AddScoped<ImportOperation>();
        builder.Services.AddScoped<PurgeOperation>();
        return services;
    }
}
