namespace Agent33.Learning.Domain;

/// <summary>How concurrent signal writes share one transaction, so one commit (one fsync) acknowledges many signals.</summary>
public sealed class GroupCommitOptions
{
    /// <summary>The most signals one transaction holds; more queued writes wait for the next one.</summary>
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long a transaction waits for more writes before it starts. 0 groups only the writes that queued while the
    /// previous transaction committed: an idle service commits a write at once, a busy one in batches that grow with the load.
    /// </summary>
    public int WaitMilliseconds { get; set; }
}
