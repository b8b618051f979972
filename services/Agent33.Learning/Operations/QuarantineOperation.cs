using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Learning.Persistence;
using Npgsql;

namespace Agent33.Learning.Operations;

/// <summary>
/// Keeps a corrupt record or payload verbatim (its beginning, hash and size) with its reason, audits it and counts it
/// in <c>learning_corruption_events_total{kind}</c>: corrupt input is never a silent reset.
/// </summary>
public sealed partial class QuarantineOperation(LearningConnections connections, TimeProvider time, CorruptionEvents corruption, ILogger<QuarantineOperation> logger)
{

    public async Task QuarantineAsync(string source, string kind, QuarantinedPayload payload, string reason, CancellationToken ct)
    {
        // Its own connection and transaction: a quarantined record stays even when the import rolls back.
        await using var connection = await connections.OpenAsync(ct);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quarantined a corrupt {Kind} from {Source}: {Reason}")]
    private static partial void LogQuarantined(ILogger logger, string kind, string source, string reason);
}
