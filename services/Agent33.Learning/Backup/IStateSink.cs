namespace Agent33.Learning.Backup;

/// <summary>Receives a state's records as they stream out of an upload, a backup or a legacy store.</summary>
public interface IStateSink
{
    ValueTask AddSignalAsync(System.Text.Json.JsonElement signal, CancellationToken cancellationToken);

    ValueTask AddIntakeAsync(System.Text.Json.JsonElement intake, CancellationToken cancellationToken);

    ValueTask AddMapEntryAsync(string signalId, string intakeId, CancellationToken cancellationToken);

    ValueTask AddSnapshotAsync(System.Text.Json.JsonElement snapshot, CancellationToken cancellationToken);

    /// <summary>
    /// An element of <paramref name="section"/> larger than any record the service accepts: read past, never held
    /// whole; <paramref name="kept"/> is its beginning, hash and size.
    /// </summary>
    ValueTask AddOversizedAsync(string section, QuarantinedPayload kept, CancellationToken cancellationToken);
}
