using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Testing;

namespace Agent33.Learning.Tests.Backup;

public sealed class EnvelopeReaderTests
{
    private static readonly string Fixtures = ReferenceFixtures.PathOf("learning");

    private static readonly JsonElement Facts = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "facts.json"))).RootElement;

    [Theory]
    [InlineData("backup-envelope.json", true)]
    [InlineData("legacy-raw-backup.json", false)]
    [InlineData("legacy-state.json", false)]
    public async Task Reference_states_read_with_the_reference_checksum(string file, bool isEnvelope)
    {
        var sink = new CountingSink();
        await using var input = File.OpenRead(Path.Combine(Fixtures, file));

        var summary = await EnvelopeReader.ReadAsync(input, sink, CancellationToken.None);

        Assert.Equal(isEnvelope, summary.IsEnvelope);
        Assert.Equal(Facts.GetProperty("signal_count").GetInt32(), summary.SignalCount);
        Assert.Equal(Facts.GetProperty("intake_count").GetInt32(), summary.IntakeCount);
        Assert.Equal(Facts.GetProperty("signal_intake_map_count").GetInt32(), summary.MapCount);
        Assert.Equal(Facts.GetProperty("checksum_sha256").GetString(), summary.Checksum);
        Assert.Equal((summary.SignalCount, summary.IntakeCount, summary.MapCount), (sink.Signals, sink.Intakes, sink.MapEntries));
    }

    [Theory]
    [InlineData("bad-checksum.json", BackupEnvelope.ChecksumMismatch)]
    [InlineData("bad-count.json", BackupEnvelope.CountMismatch)]
    [InlineData("bad-version.json", BackupEnvelope.VersionUnsupported)]
    [InlineData("missing-version.json", BackupEnvelope.VersionMissing)]
    [InlineData("truncated.json", BackupEnvelope.Invalid)]
    public async Task Broken_variants_fail_with_their_code(string file, string code)
    {
        await using var input = File.OpenRead(Path.Combine(Fixtures, file));
        var error = await Assert.ThrowsAsync<BackupFormatException>(() => EnvelopeReader.ReadAsync(input, new CountingSink(), CancellationToken.None));
        Assert.Equal(code, error.Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"state\": []}")]
    [InlineData("{\"signals\": [1]}")]
    [InlineData("{\"signal_intake_map\": {\"LS-1\": 5}}")]
    [InlineData("{\"format_version\": 1} trailing")]
    [InlineData("{\"format_version\": \"1\", \"state\": {}}")]
    [InlineData("{\"state\": {\"signals\": []}, \"state\": {}}")]
    public async Task Malformed_input_is_backup_invalid(string text)
    {
        var error = await Assert.ThrowsAsync<BackupFormatException>(() =>
            EnvelopeReader.ReadAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), new CountingSink(), CancellationToken.None));
        Assert.Equal(BackupEnvelope.Invalid, error.Code);
    }

    [Fact]
    public async Task Reading_in_tiny_chunks_gives_the_same_result()
    {
        var bytes = await File.ReadAllBytesAsync(Path.Combine(Fixtures, "backup-envelope.json"));
        var summary = await EnvelopeReader.ReadAsync(new TrickleStream(bytes), new CountingSink(), CancellationToken.None);
        Assert.Equal(Facts.GetProperty("checksum_sha256").GetString(), summary.Checksum);
    }

    [Fact]
    public async Task An_envelope_written_here_carries_the_reference_checksum_and_reads_back()
    {
        var sink = new CanonicalSink();
        await using (var input = File.OpenRead(Path.Combine(Fixtures, "legacy-state.json")))
        {
            await EnvelopeReader.ReadAsync(input, sink, CancellationToken.None);
        }
        using var written = new MemoryStream();
        var createdAt = new DateTimeOffset(2026, 11, 25, 1, 2, 3, TimeSpan.Zero);
        var checksum = await sink.State.WriteEnvelopeAsync(written, createdAt, CancellationToken.None);
        await sink.State.DisposeAsync();

        Assert.Equal(Facts.GetProperty("checksum_sha256").GetString(), checksum);
        written.Position = 0;
        var reread = await EnvelopeReader.ReadAsync(written, new CountingSink(), CancellationToken.None);
        Assert.True(reread.IsEnvelope);
        Assert.Equal(checksum, reread.Checksum);
        Assert.Equal("2026-11-25T01:02:03Z", reread.CreatedAt);
    }

    /// <summary>
    /// An element larger than the reader's limit is read past in constant memory — whatever its kind, however the
    /// bytes arrive — and reported with its hash, size and beginning; the elements after it read as usual.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_element_beyond_the_limit_is_skipped_and_reported_and_the_rest_reads(bool trickle)
    {
        var huge = "{\"summary\": \"" + new string('x', 3000) + "\\\" [{ \", \"context\": {\"a\": [1, {\"b\": \"]}\"}]}}";
        var text = "{\"signals\": [{\"summary\": \"first\"}, " + huge + " ,\"" + new string('y', 2000) + "\", {\"summary\": \"last\"}]," +
                   " \"generated_intakes\": [" + huge + "], \"signal_intake_map\": {\"LS-1\": \"RI-1\"}}";
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var sink = new CountingSink();

        var summary = await EnvelopeReader.ReadAsync(trickle ? new TrickleStream(bytes) : new MemoryStream(bytes), sink, CancellationToken.None, maxRecordBytes: 512);

        Assert.Equal((2, 0, 1), (sink.Signals, sink.Intakes, sink.MapEntries));
        Assert.Equal((2, 0, 1), (summary.SignalCount, summary.IntakeCount, summary.MapCount));
        Assert.Equal(["signals", "signals", "generated_intakes"], sink.Oversized.Select(o => o.Section));
        var record = System.Text.Encoding.UTF8.GetBytes(huge);
        Assert.Equal(record.Length, sink.Oversized[0].Kept.Bytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(record)), sink.Oversized[0].Kept.Sha256);
        Assert.Equal(huge, sink.Oversized[0].Kept.Excerpt);
        Assert.Equal(2002, sink.Oversized[1].Kept.Bytes); // a string element: refused later as "not an object" would have been
    }

    [Theory]
    [InlineData("{\"created_at\": \"LONG\", \"signals\": []}")]
    [InlineData("{\"LONG\": 1, \"signals\": []}")]
    [InlineData("{\"signal_intake_map\": {\"LONG\": \"RI-1\"}}")]
    public async Task A_value_beyond_the_limit_outside_a_record_list_makes_the_document_invalid(string template)
    {
        var text = template.Replace("LONG", new string('z', 5000), StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<BackupFormatException>(() =>
            EnvelopeReader.ReadAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), new CountingSink(), CancellationToken.None, maxRecordBytes: 512));
        Assert.Equal(BackupEnvelope.Invalid, error.Code);
        Assert.Contains("larger than 512 bytes", error.Message);
    }

    private sealed class CountingSink : IStateSink
    {
        public int Signals;
        public int Intakes;
        public int MapEntries;

        public ValueTask AddSignalAsync(JsonElement signal, CancellationToken cancellationToken) { Signals++; return ValueTask.CompletedTask; }
        public ValueTask AddIntakeAsync(JsonElement intake, CancellationToken cancellationToken) { Intakes++; return ValueTask.CompletedTask; }
        public ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken cancellationToken) { MapEntries++; return ValueTask.CompletedTask; }
        public ValueTask AddSnapshotAsync(JsonElement snapshot, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public List<(string Section, QuarantinedPayload Kept)> Oversized { get; } = [];

        public ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken cancellationToken)
        {
            Oversized.Add((section, kept));
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Re-renders everything it receives, as a backup of the database would.</summary>
    private sealed class CanonicalSink : IStateSink
    {
        public CanonicalState State { get; } = new();

        public ValueTask AddSignalAsync(JsonElement signal, CancellationToken cancellationToken) { State.AddSignal(signal); return ValueTask.CompletedTask; }
        public ValueTask AddIntakeAsync(JsonElement intake, CancellationToken cancellationToken) { State.AddIntake(intake); return ValueTask.CompletedTask; }
        public ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken cancellationToken) { State.AddMapEntry(signalId, intakeId); return ValueTask.CompletedTask; }
        public ValueTask AddSnapshotAsync(JsonElement snapshot, CancellationToken cancellationToken) { State.AddSnapshot(snapshot); return ValueTask.CompletedTask; }
        public ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no record of the reference's state is oversized");
    }

    /// <summary>Hands out a few bytes per read, to exercise every buffer boundary.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        private int _next = 1;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _next = _next % 7 + 1;
            return base.ReadAsync(buffer[..Math.Min(buffer.Length, _next)], cancellationToken);
        }
    }
}
