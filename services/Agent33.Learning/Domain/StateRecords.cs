using System.Globalization;
using System.Text.Json;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Json;

namespace Agent33.Learning.Domain;

/// <summary>
/// Reads the reference engine's state records (a signal as its model dumps to JSON) into rows, with the
/// model's defaults for missing fields and its validation: a record that the reference would reject is
/// rejected here too, with the reason.
/// </summary>
public static class StateRecords
{
    /// <summary>The width of the id and tenant columns (<c>LearningDbContext</c>): a longer value cannot be stored.</summary>
    public const int IdLength = 64;

    public static readonly string[] QualityLabels = ["low", "medium", "high"];

    /// <summary>A signal record as the reference loads it now (a missing <c>recorded_at</c> is the present moment).</summary>
    public static LearningSignal ToSignal(JsonElement json) => ToSignal(json, DateTimeOffset.UtcNow);

    /// <param name="loadedAt">When the record is loaded: the reference's model gives a record without <c>recorded_at</c>
    /// this time (its default factory is <c>datetime.now(UTC)</c>), and so its <c>first_seen_at</c> and <c>last_seen_at</c>.</param>
    public static LearningSignal ToSignal(JsonElement json, DateTimeOffset loadedAt)
    {
        if (HoldsNul(json))
        {
            throw new InvalidRecordException(NulReason);
        }
        var summary = RequiredString(json, "summary");
        var type = OptionalString(json, "signal_type") ?? "feedback";
        var severity = OptionalString(json, "severity") ?? "medium";
        if (!SignalTypes.IsValid(type))
        {
            throw new InvalidRecordException($"signal_type '{type}' is not one of {string.Join(", ", SignalTypes.Names)}");
        }
        if (!Severities.TryParse(severity, out var rank))
        {
            throw new InvalidRecordException($"severity '{severity}' is not one of {string.Join(", ", Severities.Names)}");
        }
        var recordedAt = Timestamp(json, "recorded_at") ?? loadedAt;
        var tenant = Tenant(json);
        var qualityLabel = OptionalString(json, "quality_label") ?? "low";
        if (!QualityLabels.Contains(qualityLabel))
        {
            throw new InvalidRecordException($"quality_label '{qualityLabel}' is not one of {string.Join(", ", QualityLabels)}");
        }
        var occurrences = Number(json, "occurrence_count") ?? 1;
        if (occurrences is < 1 or > int.MaxValue || occurrences != Math.Floor(occurrences))
        {
            throw new InvalidRecordException($"occurrence_count {occurrences} is not a whole number of at least 1");
        }
        var source = OptionalString(json, "source") ?? "";
        var details = OptionalString(json, "details") ?? "";
        var context = StringMap(json, "context");
        var enrichment = StringMap(json, "enrichment");
        var reasons = StringList(json, "quality_reasons");
        // The limits of POST /signals: a record the API would refuse is not let in through a restore either.
        if ((SignalLimits.Check(summary, details, source, context) ?? SignalLimits.CheckMap("enrichment", enrichment)) is { } tooLarge)
        {
            throw new InvalidRecordException(tooLarge);
        }
        if (reasons.Count > SignalLimits.QualityReasons || reasons.Any(r => r.Length > SignalLimits.QualityReasonChars))
        {
            throw new InvalidRecordException($"quality_reasons holds more than {SignalLimits.QualityReasons} entries or one longer than {SignalLimits.QualityReasonChars} characters");
        }
        return new LearningSignal
        {
            SignalId = OptionalString(json, "signal_id", IdLength) ?? throw new InvalidRecordException("signal_id is missing"),
            RecordedAt = recordedAt,
            SignalType = type,
            Severity = severity,
            SeverityRank = rank,
            TenantId = tenant,
            Summary = summary,
            Details = details,
            Source = source,
            Context = context,
            QualityScore = Number(json, "quality_score") ?? 0.0,
            QualityLabel = qualityLabel,
            QualityReasons = reasons,
            Enrichment = enrichment,
            OccurrenceCount = (int)occurrences,
            // The reference fills these from recorded_at when it loads a state that lacks them.
            FirstSeenAt = Timestamp(json, "first_seen_at") ?? recordedAt,
            LastSeenAt = Timestamp(json, "last_seen_at") ?? recordedAt,
            IntakeGenerated = json.TryGetProperty("intake_generated", out var generated) && generated.ValueKind == JsonValueKind.True,
            RelatedIntakeId = OptionalString(json, "related_intake_id", IdLength),
            Fingerprint = LearningSignal.FingerprintOf(tenant, type, summary, source),
        };
    }

    /// <summary>
    /// A record's tenant: "default" when it names none (the reference's model default); otherwise a name a key could
    /// carry (<see cref="TenantNames"/>), never <c>*</c> (every tenant, for admins' reports), a path or an empty string.
    /// </summary>
    public static string Tenant(JsonElement json)
    {
        var tenant = OptionalString(json, "tenant_id", IdLength) ?? "default";
        return TenantNames.IsValid(tenant) ? tenant
            : throw new InvalidRecordException($"tenant_id '{tenant}' is not a tenant name ({TenantNames.Rule})");
    }

    public const string NulReason = "it holds the NUL character (U+0000), which the database cannot store";

    /// <summary>
    /// Whether any string or name in <paramref name="json"/> holds U+0000, which Postgres text and jsonb cannot
    /// store. It can only be written as an escape, looked for in the raw bytes first: an ordinary record costs one scan.
    /// </summary>
    public static bool HoldsNul(JsonElement json) =>
        System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(json).IndexOf("\\u0000"u8) >= 0 && JsonText.Strings(json).Any(text => text.Contains('\0'));

    public static string RequiredString(JsonElement json, string name, int maxLength = int.MaxValue) =>
        OptionalString(json, name, maxLength) ?? throw new InvalidRecordException($"{name} is missing");

    public static string? OptionalString(JsonElement json, string name, int maxLength = int.MaxValue)
    {
        if (!json.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new InvalidRecordException($"{name} must be a string");
        return text.Length <= maxLength ? text : throw new InvalidRecordException($"{name} is longer than {maxLength} characters");
    }

    public static DateTimeOffset? Timestamp(JsonElement json, string name)
    {
        var text = OptionalString(json, name);
        if (text is null)
        {
            return null;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : throw new InvalidRecordException($"{name} '{text}' is not a timestamp");
    }

    private static double? Number(JsonElement json, string name)
    {
        if (!json.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        // A literal beyond double's range (1e400) reads as infinity, which no report could render.
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number) ? number
            : throw new InvalidRecordException($"{name} must be a finite number");
    }

    private static Dictionary<string, string> StringMap(JsonElement json, string name)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!json.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return map;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidRecordException($"{name} must be an object of strings");
        }
        foreach (var entry in value.EnumerateObject())
        {
            map[entry.Name] = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : throw new InvalidRecordException($"{name}.{entry.Name} must be a string");
        }
        return map;
    }

    private static List<string> StringList(JsonElement json, string name)
    {
        if (!json.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return [];
        }
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidRecordException($"{name} must be a list of strings");
        }
        return [.. value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InvalidRecordException($"{name} must hold strings"))];
    }
}
