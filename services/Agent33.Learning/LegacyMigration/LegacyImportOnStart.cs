using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.Operations;
using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Agent33.ServiceDefaults.Persistence;
using Npgsql;

namespace Agent33.Learning.LegacyMigration;

/// <summary>
/// <c>Learning:Migration:ImportOnStart</c> = the path of a reference legacy store: imported at start when the
/// database holds no signals yet (the reference's <c>migrate_on_start</c>); otherwise nothing happens. Replicas
/// starting together on an empty database import once: one at a time under a Postgres advisory lock, and the
/// others, once it is theirs, find the signals and do nothing.
/// </summary>
public static partial class LegacyImportOnStart
{
    private const long LockKey = 0x4147_3333_494D_5054; // "AG33IMPT": one start-up import at a time across replicas

    public static async Task ImportLegacyOnStartAsync(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<IOptions<LearningOptions>>().Value.Migration;
        if (settings.ImportOnStart is not { Length: > 0 } path)
        {
            return;
        }
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Agent33.Learning.Migration");
        var quarantine = settings.Quarantines;
        await using var scope = app.Services.CreateAsyncScope();
        var import = scope.ServiceProvider.GetRequiredService<ImportOperation>();

        // Held on a connection of its own while the import runs; a replica that waited for it sees the import done.
        var configuration = app.Services.GetRequiredService<IConfiguration>();
        await using var connection = new NpgsqlConnection(configuration.GetConnectionString(LearningPersistence.ConnectionName));
        await connection.OpenAsync();
        await using var turn = await SessionAdvisoryLock.TakeAsync(connection, LockKey, CancellationToken.None);
        if (await scope.ServiceProvider.GetRequiredService<LearningDbContext>().Signals.AnyAsync())
        {
            LogAlreadyHeld(logger, path);
            return;
        }
        try
        {
            await using var source = await LegacyStore.OpenAsync(path, CancellationToken.None);
            var result = await import.ImportAsync(source, force: false, quarantine, "startup", CancellationToken.None);
            LogImported(logger, path, result.Status, result.SignalCount, result.Quarantined);
        }
        catch (Exception ex) when (ex is BackupFormatException or LegacyStoreException)
        {
            // The service still starts: the failure is reported, the bad payload quarantined, nothing reset.
            LogFailed(logger, path, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Start-up import of {Path}: {Status}, {Signals} signal(s), {Quarantined} quarantined")]
    private static partial void LogImported(ILogger logger, string path, string status, int signals, int quarantined);

    [LoggerMessage(Level = LogLevel.Information, Message = "Start-up import of {Path} not needed: the database already holds signals")]
    private static partial void LogAlreadyHeld(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Start-up import of {Path} failed; nothing imported: {Reason}")]
    private static partial void LogFailed(ILogger logger, string path, string reason);
}
