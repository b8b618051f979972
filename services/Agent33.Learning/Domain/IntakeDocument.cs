using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Learning.Domain;

/// <summary>A generated intake's JSON, written once when the intake is generated and stored as it is.</summary>
public static class IntakeDocument
{
    /// <summary>The intake the reference generates for a signal, as its model dumps to JSON.</summary>
    public static string Write(string intakeId, LearningSignal signal, DateTimeOffset now)
    {
        var urgency = signal.SeverityRank >= 3 ? "high" : "medium";
        var basePriority = signal.Severity switch { "low" => 3, "medium" => 5, "high" => 8, _ => 10 };
        var priority = Math.Min(10, Math.Max(1, basePriority + (int)Math.Round(signal.QualityScore * 2, MidpointRounding.ToEven)));

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("intake_id", intakeId);
            w.WriteString("submitted_at", PythonJson.Timestamp(now));
            w.WriteString("submitted_by", "learning-service");
            w.WriteString("tenant_id", signal.TenantId);
            w.WriteString("generated_from_signal_id", signal.SignalId);
            w.WritePropertyName("automated_quality_score");
            w.WriteRawValue(PythonJson.FloatRepr(signal.QualityScore));
            w.WriteString("automated_quality_label", signal.QualityLabel);
            w.WriteStartObject("classification");
            w.WriteString("research_type", "internal");
            w.WriteString("category", $"learning:{signal.SignalType}");
            w.WriteString("urgency", urgency);
            w.WriteEndObject();
            w.WriteStartObject("content");
            w.WriteString("title", $"Learning signal: {signal.Summary}");
            w.WriteString("summary", signal.Details.Length > 0 ? signal.Details : signal.Summary);
            w.WriteString("source", signal.Source);
            w.WriteString("source_date", "");
            w.WriteEndObject();
            w.WriteStartObject("relevance");
            w.WriteStartArray("impact_areas");
            w.WriteStringValue($"quality:{signal.QualityLabel}");
            w.WriteEndArray();
            w.WriteStartArray("affected_phases");
            w.WriteEndArray();
            w.WriteStartArray("affected_agents");
            w.WriteEndArray();
            w.WriteNumber("priority_score", priority);
            w.WriteEndObject();
            w.WriteStartObject("analysis");
            foreach (var list in new[] { "key_findings", "recommendations", "risks", "opportunities" })
            {
                w.WriteStartArray(list);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteStartObject("disposition");
            w.WriteString("status", "submitted");
            w.WriteNull("decision_date");
            w.WriteString("decision_by", "");
            w.WriteString("rationale", "");
            w.WriteStartArray("action_items");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("tracking");
            w.WriteStartArray("backlog_refs");
            w.WriteEndArray();
            w.WriteString("roadmap_impact", "tbd");
            w.WriteString("implementation_target", "");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
