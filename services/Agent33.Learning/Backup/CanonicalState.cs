using Agent33.ServiceDefaults.Compatibility;
using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// The four sections of a learning state (signals, generated intakes, the signal→intake map, metrics
/// snapshots) in their canonical rendering, spooled to temporary files so a 100k-signal state never has
/// to be in memory at once. Yields the reference checksum and writes the state or a whole envelope.
/// </summary>
public sealed class CanonicalState : IAsyncDisposable
{
    public const string Signals = "signals";
    public const string GeneratedIntakes = "generated_intakes";
    public const string SignalIntakeMap = "signal_intake_map";
    public const string MetricsSnapshots = "metrics_snapshots";

    private readonly Section _signals = new();
    private readonly Section _intakes = new();
    private readonly Section _snapshots = new();
    private readonly Dictionary<string, string> _map = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _scratch = new(16 * 1024);

    public int SignalCount => _signals.Count;

    public int IntakeCount => _intakes.Count;

    public int MapCount => _map.Count;

    public int SnapshotCount => _snapshots.Count;

    public void AddSignal(JsonElement signal) => Append(_signals, signal);

    public void AddIntake(JsonElement intake) => Append(_intakes, intake);

    public void AddSnapshot(JsonElement snapshot) => Append(_snapshots, snapshot);

    /// <summary>Like a Python dict, a repeated key keeps the last value.</summary>
    public void AddMapEntry(string signalId, string intakeId) => _map[signalId] = intakeId;

    /// <summary>SHA-256 (lower-case hex) of the canonical state, as the reference computes it.</summary>
    public async Task<string> ComputeChecksumAsync(CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var sink = new HashingStream(hash))
        {
            await WriteStateAsync(sink, cancellationToken);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Writes <c>{"generated_intakes":[…],"metrics_snapshots":[…],"signal_intake_map":{…},"signals":[…]}</c>.</summary>
    public async Task WriteStateAsync(Stream output, CancellationToken cancellationToken)
    {
        await WriteAsciiAsync(output, $"{{\"{GeneratedIntakes}\":[", cancellationToken);
        await _intakes.CopyToAsync(output, cancellationToken);
        await WriteAsciiAsync(output, $"],\"{MetricsSnapshots}\":[", cancellationToken);
        await _snapshots.CopyToAsync(output, cancellationToken);
        await WriteAsciiAsync(output, $"],\"{SignalIntakeMap}\":{{", cancellationToken);
        _scratch.ResetWrittenCount();
        var first = true;
        foreach (var (signalId, intakeId) in _map.OrderBy(e => e.Key, PythonJson.KeyOrder))
        {
            if (!first)
            {
                _scratch.Write(","u8);
            }
            first = false;
            PythonJson.WriteString(signalId, _scratch);
            _scratch.Write(":"u8);
            PythonJson.WriteString(intakeId, _scratch);
            if (_scratch.WrittenCount > 64 * 1024)
            {
                await output.WriteAsync(_scratch.WrittenMemory, cancellationToken);
                _scratch.ResetWrittenCount();
            }
        }
        await output.WriteAsync(_scratch.WrittenMemory, cancellationToken);
        await WriteAsciiAsync(output, $"}},\"{Signals}\":[", cancellationToken);
        await _signals.CopyToAsync(output, cancellationToken);
        await WriteAsciiAsync(output, "]}", cancellationToken);
    }

    /// <summary>
    /// The whole backup envelope, keys sorted like the reference's <c>sort_keys=True</c> dump, so the
    /// reference's reader accepts it and its checksum rule verifies it.
    /// </summary>
    public async Task<string> WriteEnvelopeAsync(Stream output, DateTimeOffset createdAt, CancellationToken cancellationToken)
    {
        var checksum = await ComputeChecksumAsync(cancellationToken);
        var header = $"{{\"checksum_sha256\":\"{checksum}\",\"created_at\":\"{PythonJson.Timestamp(createdAt)}\"," +
                     $"\"format_version\":{BackupEnvelope.CurrentFormatVersion},\"intake_count\":{IntakeCount}," +
                     $"\"signal_count\":{SignalCount},\"signal_intake_map_count\":{MapCount},\"state\":";
        await WriteAsciiAsync(output, header, cancellationToken);
        await WriteStateAsync(output, cancellationToken);
        await WriteAsciiAsync(output, "}", cancellationToken);
        return checksum;
    }

    private void Append(Section section, JsonElement element)
    {
        _scratch.ResetWrittenCount();
        if (section.Count > 0)
        {
            _scratch.Write(","u8);
        }
        PythonJson.WriteCanonical(element, _scratch);
        section.Append(_scratch.WrittenSpan);
    }

    private static ValueTask WriteAsciiAsync(Stream output, string text, CancellationToken cancellationToken) =>
        output.WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _signals.DisposeAsync();
        await _intakes.DisposeAsync();
        await _snapshots.DisposeAsync();
    }

    /// <summary>One section's comma-joined elements, in a temp file deleted on dispose.</summary>
    private sealed class Section : IAsyncDisposable
    {
        private FileStream? _file;

        public int Count { get; private set; }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            _file ??= new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
                FileOptions.DeleteOnClose | FileOptions.Asynchronous);
            _file.Write(bytes);
            Count++;
        }

        public async Task CopyToAsync(Stream output, CancellationToken cancellationToken)
        {
            if (_file is null)
            {
                return;
            }
            await _file.FlushAsync(cancellationToken);
            _file.Position = 0;
            await _file.CopyToAsync(output, 64 * 1024, cancellationToken);
            _file.Position = _file.Length;
        }

        public async ValueTask DisposeAsync()
        {
            if (_file is not null)
            {
                await _file.DisposeAsync();
            }
        }
    }

    /// <summary>A write-only stream that feeds an incremental hash.</summary>
    private sealed class HashingStream(IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => hash.AppendData(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => hash.AppendData(buffer);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            hash.AppendData(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}
