using System.Text.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// Reads a backup envelope or a legacy raw state from a stream, one record at a time, handing each to
/// an <see cref="IStateSink"/> and verifying the envelope as the reference does: supported format version,
/// counts that match the payload, and the SHA-256 of the canonical state. The sink writes inside a
/// transaction that the caller commits only when this returns, so a broken backup changes nothing.
/// </summary>
public static class EnvelopeReader
{
    private static readonly HashSet<string> StateSections =
        [CanonicalState.Signals, CanonicalState.GeneratedIntakes, CanonicalState.SignalIntakeMap, CanonicalState.MetricsSnapshots];

    /// <param name="maxRecordBytes">The largest single value read; a larger record is skipped and handed to the sink's
    /// <see cref="IStateSink.AddOversizedAsync"/> (any other larger value makes the document invalid).</param>
    /// <param name="verify">False when the same bytes were verified already (a restore's second pass, under its locks):
    /// the canonical state is not rebuilt, nothing is checked against the envelope, and the summary's counts are 0.</param>
    public static async Task<EnvelopeSummary> ReadAsync(Stream input, IStateSink sink, CancellationToken cancellationToken,
        int maxRecordBytes = JsonStream.DefaultMaxValueBytes, bool verify = true)
    {
        var json = new JsonStream(input, maxRecordBytes);
        await using var canonicalState = new CanonicalState();
        var canonical = verify ? canonicalState : null;
        var declared = new Declared();
        var sawState = false;
        var sawRawSection = false;

        var first = await json.NextAsync(cancellationToken);
        if (first.Type != JsonTokenType.StartObject)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, "A backup is a JSON object (an envelope or a raw learning state).");
        }
        while (true)
        {
            var token = await json.NextAsync(cancellationToken);
            if (token.Type == JsonTokenType.EndObject)
            {
                break;
            }
            var name = token.Text!;
            if (name == "state")
            {
                if (sawState || sawRawSection)
                {
                    throw new BackupFormatException(BackupEnvelope.Invalid, "The backup holds more than one state.");
                }
                sawState = true;
                await ReadStateAsync(json, canonical, sink, cancellationToken);
            }
            else if (StateSections.Contains(name) && !sawState)
            {
                sawRawSection = true;
                await ReadSectionAsync(json, name, canonical, sink, cancellationToken);
            }
            else
            {
                await declared.ReadAsync(json, name, cancellationToken);
            }
        }
        await json.EnsureEndAsync(cancellationToken);

        var checksum = canonical is null ? "" : await canonical.ComputeChecksumAsync(cancellationToken);
        var summary = new EnvelopeSummary(sawState, declared.FormatVersion, declared.CreatedAt, canonical?.SignalCount ?? 0,
            canonical?.IntakeCount ?? 0, canonical?.MapCount ?? 0, canonical?.SnapshotCount ?? 0, checksum, sawState || sawRawSection);
        if (sawState && canonical is not null)
        {
            Verify(declared, summary);
        }
        return summary;
    }

    /// <summary>The reference's checks, in its order: version, then each count, then the checksum.</summary>
    private static void Verify(Declared declared, EnvelopeSummary actual)
    {
        if (declared.FormatVersion is not { } version)
        {
            throw new BackupFormatException(BackupEnvelope.VersionMissing, "The backup envelope has no format_version.");
        }
        if (version != BackupEnvelope.CurrentFormatVersion)
        {
            throw new BackupFormatException(BackupEnvelope.VersionUnsupported,
                $"Unsupported backup format version {version}; this service reads version {BackupEnvelope.CurrentFormatVersion}.");
        }
        if (declared.SignalCount is null || declared.IntakeCount is null || declared.MapCount is null || declared.Checksum is null)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid,
                "The backup envelope lacks signal_count, intake_count, signal_intake_map_count or checksum_sha256.");
        }
        CheckCount("signal_count", declared.SignalCount.Value, actual.SignalCount);
        CheckCount("intake_count", declared.IntakeCount.Value, actual.IntakeCount);
        CheckCount("signal_intake_map_count", declared.MapCount.Value, actual.MapCount);
        if (!string.Equals(declared.Checksum, actual.Checksum, StringComparison.Ordinal))
        {
            throw new BackupFormatException(BackupEnvelope.ChecksumMismatch,
                $"The backup's checksum_sha256 {declared.Checksum} does not match its state ({actual.Checksum}).");
        }
    }

    private static void CheckCount(string field, int declared, int actual)
    {
        if (declared != actual)
        {
            throw new BackupFormatException(BackupEnvelope.CountMismatch,
                $"The backup declares {field} = {declared} but its state holds {actual}.");
        }
    }

    private static async Task ReadStateAsync(JsonStream json, CanonicalState? canonical, IStateSink sink, CancellationToken cancellationToken)
    {
        if ((await json.NextAsync(cancellationToken)).Type != JsonTokenType.StartObject)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, "The backup's state must be an object.");
        }
        var seen = new HashSet<string>();
        while (true)
        {
            var token = await json.NextAsync(cancellationToken);
            if (token.Type == JsonTokenType.EndObject)
            {
                return;
            }
            var name = token.Text!;
            if (!StateSections.Contains(name))
            {
                await json.ReadValueAsync(cancellationToken); // unknown keys are ignored, as the reference's model does
                continue;
            }
            if (!seen.Add(name))
            {
                throw new BackupFormatException(BackupEnvelope.Invalid, $"The state holds '{name}' twice.");
            }
            await ReadSectionAsync(json, name, canonical, sink, cancellationToken);
        }
    }

    private static async Task ReadSectionAsync(JsonStream json, string name, CanonicalState? canonical, IStateSink sink, CancellationToken cancellationToken)
    {
        var start = await json.NextAsync(cancellationToken);
        if (name == CanonicalState.SignalIntakeMap)
        {
            if (start.Type != JsonTokenType.StartObject)
            {
                throw new BackupFormatException(BackupEnvelope.Invalid, "signal_intake_map must be an object of signal id → intake id.");
            }
            while (true)
            {
                var key = await json.NextAsync(cancellationToken);
                if (key.Type == JsonTokenType.EndObject)
                {
                    return;
                }
                var value = await json.NextAsync(cancellationToken);
                if (value.Type != JsonTokenType.String)
                {
                    throw new BackupFormatException(BackupEnvelope.Invalid, $"signal_intake_map['{key.Text}'] must be a string.");
                }
                canonical?.AddMapEntry(key.Text!, value.Text!);
                await sink.AddMapEntryAsync(key.Text!, value.Text!, cancellationToken);
            }
        }

        if (start.Type != JsonTokenType.StartArray)
        {
            throw new BackupFormatException(BackupEnvelope.Invalid, $"{name} must be an array.");
        }
        while (await json.ReadItemAsync(cancellationToken) is { } element)
        {
            if (element.Oversized is { } oversized)
            {
                await sink.AddOversizedAsync(name, oversized, cancellationToken);
                continue;
            }
            var item = element.Value;
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw new BackupFormatException(BackupEnvelope.Invalid, $"Every element of {name} must be an object.");
            }
            switch (name)
            {
                case CanonicalState.Signals:
                    canonical?.AddSignal(item);
                    await sink.AddSignalAsync(item, cancellationToken);
                    break;
                case CanonicalState.GeneratedIntakes:
                    canonical?.AddIntake(item);
                    await sink.AddIntakeAsync(item, cancellationToken);
                    break;
                default:
                    canonical?.AddSnapshot(item);
                    await sink.AddSnapshotAsync(item, cancellationToken);
                    break;
            }
        }
    }

    /// <summary>The envelope's metadata fields.</summary>
    private sealed class Declared
    {
        public int? FormatVersion { get; private set; }
        public string? CreatedAt { get; private set; }
        public int? SignalCount { get; private set; }
        public int? IntakeCount { get; private set; }
        public int? MapCount { get; private set; }
        public string? Checksum { get; private set; }

        public async Task ReadAsync(JsonStream json, string name, CancellationToken cancellationToken)
        {
            var value = await json.ReadValueAsync(cancellationToken);
            switch (name)
            {
                case "format_version":
                    FormatVersion = value.ValueKind == JsonValueKind.Null ? null : Integer(name, value);
                    break;
                case "created_at":
                    CreatedAt = value.ValueKind == JsonValueKind.String ? value.GetString() : throw Wrong(name, "a timestamp string");
                    break;
                case "signal_count":
                    SignalCount = Integer(name, value);
                    break;
                case "intake_count":
                    IntakeCount = Integer(name, value);
                    break;
                case "signal_intake_map_count":
                    MapCount = Integer(name, value);
                    break;
                case "checksum_sha256":
                    Checksum = value.ValueKind == JsonValueKind.String ? value.GetString() : throw Wrong(name, "a hex string");
                    break;
            }
        }

        private static int Integer(string name, JsonElement value) =>
            value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n : throw Wrong(name, "an integer");

        private static BackupFormatException Wrong(string name, string expected) =>
            new(BackupEnvelope.Invalid, $"The backup envelope's {name} must be {expected}.");
    }
}
