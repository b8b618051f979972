using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Learning.Backup;

/// <summary>A signal as the reference's model dumps it to JSON: the form a backup's canonical state holds.</summary>
public static class ReferenceSignalJson
{
    /// <summary>A signal as the reference's model dumps it, for the backup's canonical state.</summary>
    public static JsonElement Write(LearningSignal s)
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
}
