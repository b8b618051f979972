using Agent33.Learning.Domain;
using Npgsql;

namespace Agent33.Learning.Tests;

/// <summary>
/// Another session holding one signal's dedupe lock, as a writer on another replica does for a moment: the batch
/// that writes that signal waits mid-transaction (its other fingerprints locked, their duplicates read) until the
/// session lets go, and the writes arriving meanwhile queue for the next batch.
/// </summary>
internal sealed class HeldFingerprint : IAsyncDisposable
{
    private readonly NpgsqlConnection _session;

    private HeldFingerprint(NpgsqlConnection session) => _session = session;

    public static async Task<HeldFingerprint> TakeAsync(string connectionString, string tenant, string type, string summary, string source)
    {
        // Not pooled: closing a pooled connection keeps its session, and the lock with it.
        var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await session.OpenAsync();
        await using var take = new NpgsqlCommand("SELECT pg_advisory_lock(hashtextextended($1, 0))", session)
        {
            Parameters = { new() { Value = LearningSignal.FingerprintOf(tenant, type, summary, source) } },
        };
        await take.ExecuteNonQueryAsync();
        return new HeldFingerprint(session);
    }

    /// <summary>Whether a transaction of this database waits for an advisory lock (this one: the test takes no other).</summary>
    public async Task<bool> WriterWaitsAsync()
    {
        await using var query = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            _session);
        return (bool)(await query.ExecuteScalarAsync())!;
    }

    /// <summary>Lets the waiting batch go on (ending the session releases its lock).</summary>
    public ValueTask DisposeAsync() => _session.DisposeAsync();
}
