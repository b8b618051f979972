using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Learning.LegacyMigration;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Compatibility;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Agent33.Learning.Backup;

/// <summary>What a restore or an import did.</summary>
public sealed record RestoreResult(string Status, int SignalCount, int IntakeCount, int SignalIntakeMapCount, int Quarantined, string? Message = null);

/// <summary>
/// Backups, restores and legacy imports of the whole learning state. A restore or import is read and verified
/// whole first, from a local file, with nothing locked; then it replaces the state in one transaction (all or
/// nothing) while writers wait for that swap only; a backup reads one consistent snapshot
/// without blocking anyone. Bad records are never dropped silently: they fail the operation, or with
/// <c>quarantine</c> they are kept verbatim in <c>quarantined_records</c>, audited and counted.
/// </summary>
public sealed partial class LearningOperations(
    LearningDbContext db, IBackupStore store, TimeProvider time, CorruptionEvents corruption, BackupMonitor backups, IConfiguration configuration,
    StoredSignals stored, ILogger<LearningOperations> logger)
{
    private const string StateTables = "learning_signals, generated_intakes, signal_intake_map, metrics_snapshots";

    public async Task<BackupInfo> BackupAsync(string actor, CancellationToken ct)
    {
        await using var state = new CanonicalState();
        var connection = await OpenAsync(ct);
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
            await ReadAsync($"SELECT {LearningStore.SignalColumns} FROM learning_signals ORDER BY signal_id", r => state.AddSignal(SignalJson(LearningStore.ReadSignal(r))));
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
        await AuditAsync("backup_created", actor, new { stored.BackupId, stored.SignalCount, stored.IntakeCount, stored.SizeBytes }, ct);
        LogBackup(logger, stored.BackupId, stored.SignalCount, stored.SizeBytes);
        return stored;
    }

    /// <summary>
    /// Replaces the whole state with an uploaded envelope or raw state; nothing changes unless all of it verifies.
    /// A stream that cannot be read twice (the command line's progress bar) is spooled to a temporary file first.
    /// </summary>
    public async Task<RestoreResult> RestoreAsync(Stream input, string actor, CancellationToken ct)
    {
        FileStream? spool = null;
        try
        {
            if (!input.CanSeek)
            {
                spool = TempFile();
                await input.CopyToAsync(spool, ct);
                spool.Position = 0;
            }
            var result = await ReplaceStateAsync(spool ?? input, quarantineSource: null, requireEnvelopeOrState: true, ct);
            await AuditAsync("state_restored", actor, result, ct);
            return result;
        }
        finally
        {
            if (spool is not null)
            {
                await spool.DisposeAsync();
            }
        }
    }

    private static FileStream TempFile() =>
        new(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 64 * 1024, FileOptions.DeleteOnClose | FileOptions.Asynchronous);

    public async Task<RestoreResult?> RestoreBackupAsync(string backupId, string actor, CancellationToken ct)
    {
        if (await store.FindAsync(backupId, ct) is null)
        {
            return null;
        }
        // Spool the stored envelope to a temporary file: the database store reads it over the same connection.
        await using var spool = TempFile();
        await store.CopyToAsync(backupId, spool, ct);
        spool.Position = 0;
        var result = await ReplaceStateAsync(spool, quarantineSource: null, requireEnvelopeOrState: true, ct);
        await AuditAsync("state_restored", actor, new { backup_id = backupId, result.SignalCount, result.IntakeCount }, ct);
        return result;
    }

    /// <summary>
    /// Imports a reference legacy store (JSON file or SQLite database). Idempotent: a database that already
    /// holds learning state is left alone unless <paramref name="force"/> (then the import replaces it).
    /// </summary>
    public async Task<RestoreResult> ImportAsync(LegacySource source, bool force, bool quarantineCorrupt, string actor, CancellationToken ct)
    {
        var sourceName = $"{source.Kind}:{source.Path}";
        if (!force && await db.Signals.AnyAsync(ct))
        {
            var skipped = new RestoreResult("skipped", 0, 0, 0, 0, "The learning database already holds signals; nothing imported (use force to replace them).");
            await RecordRunAsync(source, force, skipped, ct);
            return skipped;
        }

        // The state is read as a stream, never whole: a file, the SQLite row, or an upload spooled to disk.
        // It must be seekable, so a payload that proves corrupt can be read again for the quarantine.
        if (!source.State.CanSeek)
        {
            throw new ArgumentException("A legacy source must be seekable (a file or a spooled upload).", nameof(source));
        }
        try
        {
            var result = await ReplaceStateAsync(source.State, quarantineCorrupt ? sourceName : null, requireEnvelopeOrState: false, ct);
            if (!quarantineCorrupt || result.Quarantined == 0)
            {
                result = result with { Status = "imported" };
            }
            else
            {
                result = result with { Status = "imported_with_quarantine", Message = $"{result.Quarantined} invalid record(s) quarantined; see GET /quarantine." };
            }
            await RecordRunAsync(source, force, result, ct);
            await AuditAsync("legacy_imported", actor, new { source = sourceName, result.SignalCount, result.IntakeCount, result.Quarantined }, ct);
            return result;
        }
        catch (BackupFormatException ex)
        {
            // The payload itself is unreadable: keep it (its beginning, hash and size), whatever the mode, and report.
            await QuarantineAsync(sourceName, "payload", await QuarantinedPayload.FromStreamAsync(source.State, ct), ex.Message, ct);
            var failed = new RestoreResult("rejected", 0, 0, 0, 1, $"The legacy payload is corrupt and was quarantined: {ex.Message}");
            await RecordRunAsync(source, force, failed, ct);
            throw;
        }
    }

    /// <summary>
    /// Two passes over a seekable input. The first reads and verifies all of it — every record, the counts and the
    /// checksum — and quarantines what it must, touching no learning table, however slowly the input was uploaded.
    /// Only then the swap: lock the tables, clear them and copy the verified records in, in one transaction.
    /// </summary>
    private async Task<RestoreResult> ReplaceStateAsync(Stream input, string? quarantineSource, bool requireEnvelopeOrState, CancellationToken ct)
    {
        input.Position = 0;
        int quarantined;
        var loadedAt = time.GetUtcNow();
        await using (var check = new StateWriter(connection: null, quarantineSource is null ? null :
            (kind, kept, reason) => new ValueTask(QuarantineAsync(quarantineSource, kind, kept, reason, ct)), loadedAt))
        {
            var summary = await EnvelopeReader.ReadAsync(input, check, ct);
            if (requireEnvelopeOrState && !summary.SawStateSection)
            {
                throw new BackupFormatException(BackupEnvelope.Invalid, "The body is neither a backup envelope nor a learning state (no signals, generated_intakes, signal_intake_map or metrics_snapshots).");
            }
            quarantined = check.Quarantined;
        }

        input.Position = 0;
        var connection = await OpenAsync(ct);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(ct);
            // Writers wait for the swap instead of slipping rows into a state that is being replaced.
            await using (var lockTables = new NpgsqlCommand($"LOCK TABLE {StateTables} IN SHARE ROW EXCLUSIVE MODE", connection, transaction))
            {
                await lockTables.ExecuteNonQueryAsync(ct);
            }
            await using (var clear = new NpgsqlCommand($"DELETE FROM learning_signals; DELETE FROM generated_intakes; DELETE FROM signal_intake_map; DELETE FROM metrics_snapshots;", connection, transaction))
            {
                await clear.ExecuteNonQueryAsync(ct);
            }
            // The records the first pass quarantined are skipped again, silently: they are in the quarantine already.
            await using var writer = new StateWriter(connection, quarantineSource is null ? null : (_, _, _) => ValueTask.CompletedTask, loadedAt);
            await EnvelopeReader.ReadAsync(input, writer, ct, verify: false);
            await writer.CompleteAsync(ct);
            await transaction.CommitAsync(ct);
            stored.Forget(); // the state was replaced: the next write counts again
            return new RestoreResult("ok", writer.Signals, writer.Intakes, writer.MapEntries, quarantined);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, $"The state holds the same id twice: {ex.Detail ?? ex.MessageText}");
        }
        catch (PostgresException ex) when (ex.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            // Class 22, data exception: a value the records' checks let through still does not fit its column.
            throw new BackupFormatException(BackupEnvelope.Invalid, $"A record does not fit the learning tables: {ex.MessageText} ({ex.Where}).");
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    public async Task QuarantineAsync(string source, string kind, QuarantinedPayload payload, string reason, CancellationToken ct)
    {
        // Its own connection and transaction: a quarantined record stays even when the import rolls back.
        // The configured string: an opened connection's own string no longer carries the password.
        await using var connection = new NpgsqlConnection(configuration.GetConnectionString(LearningPersistence.ConnectionName));
        await connection.OpenAsync(ct);
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO quarantined_records (quarantined_at, source, kind, reason, payload, payload_sha256, payload_bytes, payload_truncated)
            VALUES (@at, @source, @kind, @reason, @payload, @sha256, @bytes, @truncated);
            INSERT INTO audit_events (occurred_at, kind, actor, details) VALUES (@at, 'record_quarantined', 'learning-service', @details::jsonb);
            """, connection);
        insert.Parameters.Add(new NpgsqlParameter("at", time.GetUtcNow()));
        insert.Parameters.Add(new NpgsqlParameter("source", source));
        insert.Parameters.Add(new NpgsqlParameter("kind", kind));
        insert.Parameters.Add(new NpgsqlParameter("reason", reason));
        insert.Parameters.Add(new NpgsqlParameter("payload", payload.Excerpt));
        insert.Parameters.Add(new NpgsqlParameter("sha256", payload.Sha256));
        insert.Parameters.Add(new NpgsqlParameter("bytes", payload.Bytes));
        insert.Parameters.Add(new NpgsqlParameter("truncated", payload.Truncated));
        insert.Parameters.Add(new NpgsqlParameter("details", JsonSerializer.Serialize(new { source, kind, reason, payload_sha256 = payload.Sha256, payload_bytes = payload.Bytes })));
        await insert.ExecuteNonQueryAsync(ct);
        corruption.Counted(kind);
        LogQuarantined(logger, kind, source, reason);
    }

    /// <summary>Removes a quarantined record once an operator has dealt with it; false when there is none with that id.</summary>
    public async Task<bool> PurgeQuarantinedAsync(long id, string actor, CancellationToken ct)
    {
        var removed = await db.Quarantine.Where(q => q.Id == id)
            .Select(q => new { q.Id, q.Source, q.Kind, q.PayloadSha256, q.PayloadBytes })
            .FirstOrDefaultAsync(ct);
        if (removed is null || await db.Quarantine.Where(q => q.Id == id).ExecuteDeleteAsync(ct) == 0)
        {
            return false;
        }
        await AuditAsync("quarantine_purged", actor, removed, ct);
        return true;
    }

    private async Task RecordRunAsync(LegacySource source, bool force, RestoreResult result, CancellationToken ct)
    {
        db.ImportRuns.Add(new ImportRun
        {
            StartedAt = time.GetUtcNow(),
            FinishedAt = time.GetUtcNow(),
            SourceKind = source.Kind,
            Source = source.Path,
            Status = result.Status,
            Forced = force,
            SignalsImported = result.SignalCount,
            IntakesImported = result.IntakeCount,
            MapEntriesImported = result.SignalIntakeMapCount,
            Quarantined = result.Quarantined,
            Message = result.Message,
        });
        await db.SaveChangesAsync(ct);
    }

    private async Task AuditAsync(string kind, string actor, object details, CancellationToken ct)
    {
        db.AuditEvents.Add(new AuditEvent { OccurredAt = time.GetUtcNow(), Kind = kind, Actor = actor, Details = JsonSerializer.Serialize(details) });
        await db.SaveChangesAsync(ct);
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        return (NpgsqlConnection)db.Database.GetDbConnection();
    }

    /// <summary>A signal as the reference's model dumps it, for the backup's canonical state.</summary>
    internal static JsonElement SignalJson(LearningSignal s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("signal_id", s.SignalId);
            w.WriteString("recorded_at", PythonJson.Timestamp(s.RecordedAt));
            w.WriteString("signal_type", s.SignalType);
            w.WriteString("severity", s.Severity);
            w.WriteString("tenant_id", s.TenantId);
            w.WriteString("summary", s.Summary);
            w.WriteString("details", s.Details);
            w.WriteString("source", s.Source);
            w.WriteStartObject("context");
            foreach (var (key, value) in s.Context)
            {
                w.WriteString(key, value);
            }
            w.WriteEndObject();
            w.WritePropertyName("quality_score");
            w.WriteRawValue(PythonJson.FloatRepr(s.QualityScore));
            w.WriteString("quality_label", s.QualityLabel);
            w.WriteStartArray("quality_reasons");
            foreach (var reason in s.QualityReasons)
            {
                w.WriteStringValue(reason);
            }
            w.WriteEndArray();
            w.WriteStartObject("enrichment");
            foreach (var (key, value) in s.Enrichment)
            {
                w.WriteString(key, value);
            }
            w.WriteEndObject();
            w.WriteNumber("occurrence_count", s.OccurrenceCount);
            WriteTimestamp(w, "first_seen_at", s.FirstSeenAt);
            WriteTimestamp(w, "last_seen_at", s.LastSeenAt);
            w.WriteBoolean("intake_generated", s.IntakeGenerated);
            if (s.RelatedIntakeId is null)
            {
                w.WriteNull("related_intake_id");
            }
            else
            {
                w.WriteString("related_intake_id", s.RelatedIntakeId);
            }
            w.WriteEndObject();
        }
        return JsonDocument.Parse(buffer.ToArray()).RootElement;
    }

    private static void WriteTimestamp(Utf8JsonWriter w, string name, DateTimeOffset? value)
    {
        if (value is { } at)
        {
            w.WriteString(name, PythonJson.Timestamp(at));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup {BackupId} stored: {Signals} signals, {Bytes} bytes")]
    private static partial void LogBackup(ILogger logger, string backupId, int signals, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quarantined a corrupt {Kind} from {Source}: {Reason}")]
    private static partial void LogQuarantined(ILogger logger, string kind, string source, string reason);
}
