using System.Text;
using Microsoft.Data.Sqlite;

namespace Agent33.Learning.LegacyMigration; // not "Migration": that would hide EF Core's Migration type in the schema migrations

/// <summary>
/// The reference engine's two legacy stores: the JSON state file, and the SQLite database whose table
/// <c>learning_signal_state</c> keeps the whole state as one JSON payload row. Either opens as a stream
/// of the raw state, for the same reader that restores backups.
/// </summary>
public static class LegacyStore
{
    private static readonly byte[] SqliteHeader = "SQLite format 3\0"u8.ToArray();

    public static async Task<LegacySource> OpenAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new LegacyStoreException("legacy_store_not_found", $"No legacy store at {path}.", payload: null);
        }
        var header = new byte[SqliteHeader.Length];
        await using (var probe = File.OpenRead(path))
        {
            await probe.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken);
        }
        if (!header.AsSpan().SequenceEqual(SqliteHeader))
        {
            return new LegacySource("json", path, File.OpenRead(path));
        }
        var payload = await ReadSqlitePayloadAsync(path, cancellationToken);
        return new LegacySource("sqlite", path, new MemoryStream(Encoding.UTF8.GetBytes(payload), writable: false));
    }

    private static async Task<string> ReadSqlitePayloadAsync(string path, CancellationToken cancellationToken)
    {
        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        try
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT payload FROM learning_signal_state WHERE state_key = 1";
            var value = await command.ExecuteScalarAsync(cancellationToken);
            return value switch
            {
                null or DBNull => "{}", // the reference treats a missing row as an empty state
                string text when !string.IsNullOrWhiteSpace(text) => text,
                _ => throw new LegacyStoreException("legacy_payload_invalid",
                    "The SQLite store's learning_signal_state payload is empty or not text.", value.ToString()),
            };
        }
        catch (SqliteException ex)
        {
            throw new LegacyStoreException("legacy_database_corrupt",
                $"The SQLite store {path} cannot be read: {ex.Message}", payload: null);
        }
    }
}
