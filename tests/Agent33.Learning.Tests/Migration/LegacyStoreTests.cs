using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Learning.LegacyMigration;
using Agent33.Learning.Tests.Backup;
using Agent33.Testing;

namespace Agent33.Learning.Tests.Migration;

public sealed class LegacyStoreTests
{
    private static readonly string Fixtures = ReferenceFixtures.PathOf("learning");

    [Theory]
    [InlineData("legacy-state.json", "json")]
    [InlineData("legacy-state.sqlite3", "sqlite")]
    public async Task Both_legacy_stores_read_as_the_reference_state(string file, string kind)
    {
        var facts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Fixtures, "facts.json"))).RootElement;
        await using var source = await LegacyStore.OpenAsync(Path.Combine(Fixtures, file), CancellationToken.None);

        var summary = await EnvelopeReader.ReadAsync(source.State, new NullSink(), CancellationToken.None);

        Assert.Equal(kind, source.Kind);
        Assert.False(summary.IsEnvelope);
        Assert.Equal(facts.GetProperty("signal_count").GetInt32(), summary.SignalCount);
        Assert.Equal(facts.GetProperty("checksum_sha256").GetString(), summary.Checksum);
    }

    [Fact]
    public async Task A_corrupt_sqlite_payload_is_reported_not_read_as_empty()
    {
        await using var source = await LegacyStore.OpenAsync(Path.Combine(Fixtures, "corrupt-payload.sqlite3"), CancellationToken.None);
        var error = await Assert.ThrowsAsync<BackupFormatException>(() => EnvelopeReader.ReadAsync(source.State, new NullSink(), CancellationToken.None));
        Assert.Equal(BackupEnvelope.Invalid, error.Code);
    }

    [Fact]
    public async Task A_file_that_is_not_a_sqlite_database_but_claims_to_be_is_corrupt()
    {
        var path = Path.GetTempFileName();
        await File.WriteAllBytesAsync(path, [.. "SQLite format 3\0"u8, .. new byte[200]]);
        try
        {
            var error = await Assert.ThrowsAsync<LegacyStoreException>(() => LegacyStore.OpenAsync(path, CancellationToken.None));
            Assert.Equal("legacy_database_corrupt", error.Code);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
