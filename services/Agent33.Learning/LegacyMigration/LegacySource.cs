using Microsoft.Data.Sqlite;

namespace Agent33.Learning.LegacyMigration; // not "Migration": that would hide EF Core's Migration type in the schema migrations

/// <summary>An opened legacy store: its kind (<c>json</c> or <c>sqlite</c>), where it came from, and its raw state.</summary>
public sealed record LegacySource(string Kind, string Path, Stream State) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => State.DisposeAsync();
}
