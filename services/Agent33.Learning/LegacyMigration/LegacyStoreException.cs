using Microsoft.Data.Sqlite;

namespace Agent33.Learning.LegacyMigration; // not "Migration": that would hide EF Core's Migration type in the schema migrations

/// <summary>A legacy store that cannot be imported; <see cref="Payload"/> is kept verbatim for quarantine when known.</summary>
public sealed class LegacyStoreException(string code, string message, string? payload) : Exception(message)
{
    public string Code { get; } = code;

    public string? Payload { get; } = payload;
}
