using System.Text.Json;
using Agent33.Learning.Backup;

namespace Agent33.Learning.Tests.Backup;

/// <summary>Reads a state and keeps nothing: for tests that care only about what the reader reports.</summary>
internal sealed class NullSink : IStateSink
{
    public ValueTask AddSignalAsync(JsonElement signal, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask AddIntakeAsync(JsonElement intake, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask AddSnapshotAsync(JsonElement snapshot, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public List<(string Section, QuarantinedPayload Kept)> Oversized { get; } = [];

    public ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken cancellationToken)
    {
        Oversized.Add((section, kept));
        return ValueTask.CompletedTask;
    }
}
