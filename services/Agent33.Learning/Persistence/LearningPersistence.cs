using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Agent33.ServiceDefaults.Persistence;
using Npgsql;

namespace Agent33.Learning.Persistence;

public static partial class LearningPersistence
{
    public const string ConnectionName = "learning";

    public static IHostApplicationBuilder AddLearningPersistence(this IHostApplicationBuilder builder)
    {
        // Aspire's integration adds the Npgsql health check (so /health reports Postgres), tracing and metrics.
        // Its default retry waits out an outage for about a minute while the caller hangs; two quick retries
        // ride out a dropped connection or a failover, and a longer outage is a prompt 503 the caller may retry.
        builder.AddNpgsqlDbContext<LearningDbContext>(ConnectionName,
            settings => settings.DisableRetry = true,
            options => options.UseNpgsql(npgsql => npgsql.EnableRetryOnFailure(maxRetryCount: 2, maxRetryDelay: TimeSpan.FromSeconds(1), errorCodesToAdd: null)));

        return builder;
    }

    /// <summary>
    /// Applies pending EF Core migrations before the service takes traffic. Postgres may still be
    /// starting when the service does, so connection failures are retried for a bounded time.
    /// </summary>
    public static async Task MigrateLearningDatabaseAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Agent33.Learning.Migrations");
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = app.Services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<LearningDbContext>();
                // Npgsql's migrator reads the migration history before it creates the history table, and on a new
                // database EF logs that failed read as an error: create the database (where the AppHost has not) and
                // the table first, so a first start logs no error.
                var creator = db.GetService<IRelationalDatabaseCreator>();
                if (!await creator.ExistsAsync(cancellationToken))
                {
                    await creator.CreateAsync(cancellationToken);
                }
                // Replicas start together: one at a time migrates, under a session-level advisory lock on the context's
                // own connection; the others wait, then find nothing pending (two at once: "relation already exists").
                await db.Database.OpenConnectionAsync(cancellationToken);
                try
                {
                    await using (await SessionAdvisoryLock.TakeAsync(db.Database.GetDbConnection(), SessionAdvisoryLock.MigrationsKey, cancellationToken))
                    {
                        await db.GetService<IHistoryRepository>().CreateIfNotExistsAsync(cancellationToken);
                        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
                        await db.Database.MigrateAsync(cancellationToken);
                        LogMigrated(logger, pending.Count, string.Join(", ", pending));
                    }
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }
                return;
            }
            catch (Exception ex) when (IsTransient(ex) && DateTimeOffset.UtcNow < deadline)
            {
                LogWaiting(logger, attempt, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), cancellationToken);
            }
        }
    }

    private static bool IsTransient(Exception ex) =>
        ex is NpgsqlException { IsTransient: true } or TimeoutException
        || ex.InnerException is NpgsqlException { IsTransient: true }
        || ex is InvalidOperationException { InnerException: NpgsqlException };

    [LoggerMessage(Level = LogLevel.Information, Message = "Learning database is up to date; applied {Count} migration(s): {Migrations}")]
    private static partial void LogMigrated(ILogger logger, int count, string migrations);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Learning database not reachable yet (attempt {Attempt}): {Reason}")]
    private static partial void LogWaiting(ILogger logger, int attempt, string reason);
}
