namespace Agent33.Learning.Domain;

/// <summary>
/// What this process knows of the stored signals: how many there are (counted exactly, up to just past the cap, by
/// the pruner and by every write that checks the cap, plus the signals this process has added since) and when the
/// oldest was recorded. A new signal checks the cap only when the count is unknown or near <c>MaxSignals</c>, and
/// retention only when the oldest may have expired: below the cap a write costs the same whatever is stored, and
/// at the cap it removes what it pushes out before it answers.
/// </summary>
public sealed class StoredSignals
{
    private const long Unknown = long.MinValue;
    private const long NoneStored = long.MaxValue;

    private long _count = -1; // unknown
    private long _oldestTicks = Unknown;

    /// <summary>Near enough to the cap to check: other replicas and restores add signals this process does not see.</summary>
    public static int Margin(int maxSignals) => Math.Max(100, maxSignals / 10);

    /// <summary>Whether <paramref name="adding"/> more signals leave the table well under <paramref name="maxSignals"/>.</summary>
    public bool WellUnderCap(int maxSignals, int adding)
    {
        var count = Interlocked.Read(ref _count);
        return count >= 0 && count + adding < maxSignals - Margin(maxSignals);
    }

    /// <summary>Whether a signal recorded before <paramref name="cutoff"/> may be stored (true when not known).</summary>
    public bool MayHoldSignalsBefore(DateTimeOffset cutoff)
    {
        var oldest = Interlocked.Read(ref _oldestTicks);
        return oldest == Unknown || (oldest != NoneStored && oldest < cutoff.UtcTicks);
    }

    /// <summary>One more signal stored by this process, recorded at <paramref name="recordedAt"/>.</summary>
    public void Added(DateTimeOffset recordedAt)
    {
        long count;
        do
        {
            count = Interlocked.Read(ref _count);
            if (count < 0)
            {
                break; // nothing to add to while the count is unknown
            }
        }
        while (Interlocked.CompareExchange(ref _count, count + 1, count) != count);
        // The first signal of an empty table is its oldest; otherwise a new signal is never the oldest.
        Interlocked.CompareExchange(ref _oldestTicks, recordedAt.UtcTicks, NoneStored);
    }

    public void Counted(long count) => Interlocked.Exchange(ref _count, count);

    /// <summary>The oldest stored signal's time, or null when none is stored.</summary>
    public void OldestIs(DateTimeOffset? oldest) => Interlocked.Exchange(ref _oldestTicks, oldest?.UtcTicks ?? NoneStored);

    /// <summary>After a restore or an import: the next write finds out again.</summary>
    public void Forget()
    {
        Interlocked.Exchange(ref _count, -1);
        Interlocked.Exchange(ref _oldestTicks, Unknown);
    }
}
