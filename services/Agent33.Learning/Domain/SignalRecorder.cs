namespace Agent33.Learning.Domain;

/// <summary>Turns a validated <c>POST /signals</c> into a scored signal with its dedupe fingerprint, and records it.</summary>
public sealed class SignalRecorder(SignalGroupCommit groupCommit, TimeProvider time)
{
    /// <summary>
    /// Records a signal, or merges it into the newest matching one inside the dedupe window. It is written in a
    /// transaction shared with the writes that arrive at the same moment (<see cref="SignalGroupCommit"/>), and
    /// answered once that transaction has committed.
    /// </summary>
    public Task<(SignalView Signal, bool Created)> RecordAsync(SignalInput input, string tenant, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var incoming = new LearningSignal
        {
            SignalId = LearningSignal.NewId("LS"),
            RecordedAt = now,
            SignalType = input.SignalType,
            Severity = input.Severity,
            SeverityRank = Severities.Rank(input.Severity),
            TenantId = tenant,
            Summary = input.Summary,
            Details = input.Details,
            Source = input.Source,
            Context = input.Context,
            FirstSeenAt = now,
            LastSeenAt = now,
            Fingerprint = LearningSignal.FingerprintOf(tenant, input.SignalType, input.Summary, input.Source),
        };
        QualityScoring.Apply(incoming);
        return groupCommit.RecordAsync(incoming, ct);
    }
}
