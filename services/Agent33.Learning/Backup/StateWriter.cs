using System.Text.Json;
using Agent33.Learning.Domain;
using Npgsql;
using NpgsqlTypes;

namespace Agent33.Learning.Backup;

/// <summary>
/// Writes a streamed state into the learning tables with binary COPY, one section at a time, inside the
/// caller's transaction: the caller commits only after the whole state was read and verified. Records
/// the reference would reject fail the write, or — when a quarantine is given — go there instead.
/// Without a connection it only checks: the verifying pass a restore makes before it locks anything.
/// </summary>
/// <param name="loadedAt">When the state is loaded: a record without its timestamp gets this one, as in the reference.</param>
internal sealed class StateWriter(NpgsqlConnection? connection, Func<string, QuarantinedPayload, string, ValueTask>? quarantine, DateTimeOffset loadedAt)
    : IStateSink, IAsyncDisposable
{
    private NpgsqlBinaryImporter? _importer;
    private string? _section;
    private long _snapshotPosition;

    public int Signals { get; private set; }
    public int Intakes { get; private set; }
    public int MapEntries { get; private set; }
    public int Snapshots { get; private set; }
    public int Quarantined { get; private set; }

    public async ValueTask AddSignalAsync(JsonElement json, CancellationToken ct)
    {
        LearningSignal signal;
        try
        {
            signal = StateRecords.ToSignal(json, loadedAt);
        }
        catch (InvalidRecordException ex)
        {
            await RejectAsync("signal", json, ex.Message);
            return;
        }
        if (connection is null)
        {
            Signals++;
            return;
        }
        var copy = await SectionAsync("signals",
            "COPY learning_signals (signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context, " +
            "quality_score, quality_label, quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, related_intake_id, fingerprint) " +
            "FROM STDIN (FORMAT BINARY)", ct);
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(signal.SignalId, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(signal.RecordedAt, NpgsqlDbType.TimestampTz, ct);
        await copy.WriteAsync(signal.SignalType, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(signal.Severity, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(signal.SeverityRank, NpgsqlDbType.Integer, ct);
        await copy.WriteAsync(signal.TenantId, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(signal.Summary, NpgsqlDbType.Text, ct);
        await copy.WriteAsync(signal.Details, NpgsqlDbType.Text, ct);
        await copy.WriteAsync(signal.Source, NpgsqlDbType.Text, ct);
        await copy.WriteAsync(JsonSerializer.Serialize(signal.Context), NpgsqlDbType.Jsonb, ct);
        await copy.WriteAsync(signal.QualityScore, NpgsqlDbType.Double, ct);
        await copy.WriteAsync(signal.QualityLabel, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(JsonSerializer.Serialize(signal.QualityReasons), NpgsqlDbType.Jsonb, ct);
        await copy.WriteAsync(JsonSerializer.Serialize(signal.Enrichment), NpgsqlDbType.Jsonb, ct);
        await copy.WriteAsync(signal.OccurrenceCount, NpgsqlDbType.Integer, ct);
        await WriteNullableAsync(copy, signal.FirstSeenAt, ct);
        await WriteNullableAsync(copy, signal.LastSeenAt, ct);
        await copy.WriteAsync(signal.IntakeGenerated, NpgsqlDbType.Boolean, ct);
        if (signal.RelatedIntakeId is null)
        {
            await copy.WriteNullAsync(ct);
        }
        else
        {
            await copy.WriteAsync(signal.RelatedIntakeId, NpgsqlDbType.Varchar, ct);
        }
        await copy.WriteAsync(signal.Fingerprint, NpgsqlDbType.Varchar, ct);
        Signals++;
    }

    public async ValueTask AddIntakeAsync(JsonElement json, CancellationToken ct)
    {
        string intakeId, tenant;
        string? fromSignal;
        DateTimeOffset submittedAt;
        try
        {
            if (StateRecords.HoldsNul(json))
            {
                throw new InvalidRecordException(StateRecords.NulReason);
            }
            CheckDocumentSize(json, "intake");
            intakeId = StateRecords.RequiredString(json, "intake_id", StateRecords.IdLength);
            submittedAt = StateRecords.Timestamp(json, "submitted_at") ?? loadedAt;
            tenant = StateRecords.Tenant(json);
            fromSignal = StateRecords.OptionalString(json, "generated_from_signal_id", StateRecords.IdLength);
        }
        catch (InvalidRecordException ex)
        {
            await RejectAsync("intake", json, ex.Message);
            return;
        }
        if (connection is null)
        {
            Intakes++;
            return;
        }
        var copy = await SectionAsync("intakes",
            "COPY generated_intakes (intake_id, tenant_id, generated_from_signal_id, submitted_at, document) FROM STDIN (FORMAT BINARY)", ct);
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(intakeId, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(tenant, NpgsqlDbType.Varchar, ct);
        if (fromSignal is { } from)
        {
            await copy.WriteAsync(from, NpgsqlDbType.Varchar, ct);
        }
        else
        {
            await copy.WriteNullAsync(ct);
        }
        await copy.WriteAsync(submittedAt, NpgsqlDbType.TimestampTz, ct);
        await copy.WriteAsync(json.GetRawText(), NpgsqlDbType.Jsonb, ct);
        Intakes++;
    }

    public async ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken ct)
    {
        var unstorable = signalId.Contains('\0') || intakeId.Contains('\0') ? StateRecords.NulReason
            : signalId.Length > StateRecords.IdLength || intakeId.Length > StateRecords.IdLength ? $"an id is longer than {StateRecords.IdLength} characters"
            : null;
        if (unstorable is not null)
        {
            await RejectAsync("map entry", JsonSerializer.SerializeToElement(new { signal_id = signalId, intake_id = intakeId }), unstorable);
            return;
        }
        if (connection is null)
        {
            MapEntries++;
            return;
        }
        var copy = await SectionAsync("map", "COPY signal_intake_map (signal_id, intake_id) FROM STDIN (FORMAT BINARY)", ct);
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(signalId, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(intakeId, NpgsqlDbType.Varchar, ct);
        MapEntries++;
    }

    public async ValueTask AddSnapshotAsync(JsonElement json, CancellationToken ct)
    {
        if (StateRecords.HoldsNul(json))
        {
            await RejectAsync("snapshot", json, StateRecords.NulReason);
            return;
        }
        if (System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(json).Length > SignalLimits.DocumentBytes)
        {
            await RejectAsync("snapshot", json, $"the snapshot is larger than {SignalLimits.DocumentBytes / 1024} KiB");
            return;
        }
        var id = json.TryGetProperty("snapshot_id", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : $"MSN-restored-{_snapshotPosition}";
        if (id.Length > StateRecords.IdLength)
        {
            await RejectAsync("snapshot", json, $"snapshot_id is longer than {StateRecords.IdLength} characters");
            return;
        }
        if (connection is null)
        {
            Snapshots++;
            return;
        }
        var copy = await SectionAsync("snapshots", "COPY metrics_snapshots (snapshot_id, position, document) FROM STDIN (FORMAT BINARY)", ct);
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(id, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(_snapshotPosition++, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(json.GetRawText(), NpgsqlDbType.Jsonb, ct);
        Snapshots++;
    }

    /// <summary>Finishes the open COPY; call before committing.</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        if (_importer is not null)
        {
            await _importer.CompleteAsync(ct);
            await _importer.DisposeAsync();
            _importer = null;
            _section = null;
        }
    }

    public ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken ct) =>
        RejectAsync(KindOf(section), kept, $"the record is larger than {JsonStream.DefaultMaxValueBytes / (1024 * 1024)} MiB, far beyond any record the service accepts");

    private static string KindOf(string section) => section switch
    {
        CanonicalState.Signals => "signal",
        CanonicalState.GeneratedIntakes => "intake",
        CanonicalState.MetricsSnapshots => "snapshot",
        _ => section,
    };

    private static void CheckDocumentSize(JsonElement json, string kind)
    {
        if (System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(json).Length > SignalLimits.DocumentBytes)
        {
            throw new InvalidRecordException($"the {kind} is larger than {SignalLimits.DocumentBytes / 1024} KiB");
        }
    }

    private ValueTask RejectAsync(string kind, JsonElement json, string reason) => RejectAsync(kind, QuarantinedPayload.FromJson(json), reason);

    private async ValueTask RejectAsync(string kind, QuarantinedPayload kept, string reason)
    {
        if (quarantine is null)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, $"A {kind} record is invalid: {reason}.");
        }
        Quarantined++;
        await quarantine(kind, kept, reason);
    }

    private async ValueTask<NpgsqlBinaryImporter> SectionAsync(string section, string copyCommand, CancellationToken ct)
    {
        if (_section == section && _importer is not null)
        {
            return _importer;
        }
        await CompleteAsync(ct);
        _importer = await connection!.BeginBinaryImportAsync(copyCommand, ct);
        _section = section;
        return _importer;
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter copy, DateTimeOffset? value, CancellationToken ct)
    {
        if (value is { } at)
        {
            await copy.WriteAsync(at, NpgsqlDbType.TimestampTz, ct);
        }
        else
        {
            await copy.WriteNullAsync(ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_importer is not null)
        {
            await _importer.DisposeAsync(); // not completed: the COPY is cancelled and the transaction rolls back
        }
    }
}
