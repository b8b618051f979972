using System.Text.Json;
using Npgsql;

namespace Agent33.Learning.Domain;

/// <summary>
/// A signal as a row of <c>learning_signals</c> in plain SQL: its columns in one order, read from a data reader, and
/// written many at once as one array per column. The writer and the backup share it, so the two never disagree.
/// </summary>
public static class SignalRows
{
    public const string Columns =
        "signal_id, recorded_at, signal_type, severity, severity_rank, tenant_id, summary, details, source, context, quality_score, quality_label, " +
        "quality_reasons, enrichment, occurrence_count, first_seen_at, last_seen_at, intake_generated, related_intake_id, fingerprint";

    public static LearningSignal Read(NpgsqlDataReader r) => new()
    {
        SignalId = r.GetString(0),
        RecordedAt = r.GetFieldValue<DateTimeOffset>(1),
        SignalType = r.GetString(2),
        Severity = r.GetString(3),
        SeverityRank = r.GetInt32(4),
        TenantId = r.GetString(5),
        Summary = r.GetString(6),
        Details = r.GetString(7),
        Source = r.GetString(8),
        Context = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(9)) ?? [],
        QualityScore = r.GetDouble(10),
        QualityLabel = r.GetString(11),
        QualityReasons = JsonSerializer.Deserialize<List<string>>(r.GetString(12)) ?? [],
        Enrichment = JsonSerializer.Deserialize<Dictionary<string, string>>(r.GetString(13)) ?? [],
        OccurrenceCount = r.GetInt32(14),
        FirstSeenAt = r.IsDBNull(15) ? null : r.GetFieldValue<DateTimeOffset>(15),
        LastSeenAt = r.IsDBNull(16) ? null : r.GetFieldValue<DateTimeOffset>(16),
        IntakeGenerated = r.GetBoolean(17),
        RelatedIntakeId = r.IsDBNull(18) ? null : r.GetString(18),
        Fingerprint = r.GetString(19),
    };

    /// <summary>The signals passed as one array per column (<see cref="Command"/>), as a table <c>v</c> of <see cref="Columns"/>.</summary>
    public const string Unnested =
        "unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], " +
        "$11::float8[], $12::text[], $13::jsonb[], $14::jsonb[], $15::int[], $16::timestamptz[], $17::timestamptz[], $18::bool[], $19::text[], $20::text[]) " +
        $"AS v({Columns})";

    /// <summary>Every column but the key, set from <see cref="Unnested"/>.</summary>
    public static readonly string UpdatedColumns = string.Join(", ", Columns.Split(", ").Skip(1).Select(column => $"{column} = v.{column}"));

    /// <summary>A statement over <see cref="Unnested"/>: any number of signals in one statement, with the same 20 parameters.</summary>
    public static NpgsqlBatchCommand Command(string sql, IReadOnlyCollection<LearningSignal> signals) => new(sql)
    {
        Parameters =
        {
            Column(signals, s => s.SignalId), Column(signals, s => s.RecordedAt), Column(signals, s => s.SignalType), Column(signals, s => s.Severity),
            Column(signals, s => s.SeverityRank), Column(signals, s => s.TenantId), Column(signals, s => s.Summary), Column(signals, s => s.Details),
            Column(signals, s => s.Source), Column(signals, s => JsonSerializer.Serialize(s.Context)), Column(signals, s => s.QualityScore),
            Column(signals, s => s.QualityLabel), Column(signals, s => JsonSerializer.Serialize(s.QualityReasons)),
            Column(signals, s => JsonSerializer.Serialize(s.Enrichment)), Column(signals, s => s.OccurrenceCount),
            Column(signals, s => s.FirstSeenAt), Column(signals, s => s.LastSeenAt),
            Column(signals, s => s.IntakeGenerated), Column(signals, s => s.RelatedIntakeId), Column(signals, s => s.Fingerprint),
        },
    };

    private static NpgsqlParameter Column<T>(IEnumerable<LearningSignal> signals, Func<LearningSignal, T> value) => new() { Value = signals.Select(value).ToArray() };
}
