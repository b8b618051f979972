using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Agent33.Learning.Operations;

/// <summary>
/// Backs up the whole learning state as the reference's envelope, into the configured backup store: one consistent
/// snapshot, read without blocking anyone.
/// </summary>
public sealed partial class BackupOperation(LearningDbContext db, IBackupStore store, AuditTrail audit, TimeProvider time, BackupMonitor backups, ILogger<BackupOperation> logger)
{
    public async Task<BackupInfo> CreateAsync(string actor, CancellationToken ct)
    {
        await using var state = new CanonicalState();
        await db.Database.OpenConnectionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using (var snapshot = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct))
        {
            // Read row by row with plain commands: EF buffers a whole result when its execution strategy retries, and a
            // million signals buffered is gigabytes. The reference sorts signals and intakes by id when it saves; the
            // same order gives the same checksum.
            async Task ReadAsync(string sql, Action<NpgsqlDataReader> add)
            {
                await using var select = new NpgsqlCommand(sql, connection, snapshot);
                await using var reader = await select.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    add(reader);
                }
            }
            void AddDocument(NpgsqlDataReader reader, Action<JsonElement> add)
            {
                using var parsed = JsonDocument.Parse(reader.GetString(0));
                add(parsed.RootElement);
            }
            await ReadAsync($"SELECT {SignalRows.Columns} FROM learning_signals ORDER BY signal_id", r => state.AddSignal(ReferenceSignalJson.Write(SignalRows.Read(r))));
            await ReadAsync("SELECT document FROM generated_intakes ORDER BY intake_id", r => AddDocument(r, state.AddIntake));
            await ReadAsync("SELECT signal_id, intake_id FROM signal_intake_map", r => state.AddMapEntry(r.GetString(0), r.GetString(1)));
            await ReadAsync("SELECT document FROM metrics_snapshots ORDER BY position", r => AddDocument(r, state.AddSnapshot));
            await snapshot.CommitAsync(ct);
        }
        await db.Database.CloseConnectionAsync();

        var createdAt = time.GetUtcNow();
        var checksum = await state.ComputeChecksumAsync(ct);
        var info = new BackupInfo(BackupIds.New(), createdAt, state.SignalCount, state.IntakeCount, state.MapCount, checksum, 0);
        var stored = await store.SaveAsync(info, (output, token) => state.WriteEnvelopeAsync(output, createdAt, token), ct);
        backups.Seen(stored.CreatedAt);
        await audit.RecordAsync("backup_created", actor, new { stored.BackupId, stored.SignalCount, stored.IntakeCount, stored.SizeBytes }, ct);
        LogBackup(logger, stored.BackupId, stored.SignalCount, stored.SizeBytes);
        return stored;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {BackupId} stored: {Signals} signals, {Bytes} bytes")]
    private static partial void LogBackup(ILogger logger, string backupId, int signals, long bytes);
}
