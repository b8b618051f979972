namespace Agent33.Learning.Domain;

/// <summary>
/// How many signals are stored, as far as this process knows: counted exactly (up to just past the cap) by the
/// pruner and by every write that checks the cap, plus the signals this process has added since. A new signal
/// checks the cap only when this is unknown or near <c>MaxSignals</c>, so below the cap a write costs the same
/// whatever is stored, and at the cap it removes what it pushes out before it answers.
/// </summary>
public sealed class StoredSignals
{
    private long _count = -1; // unknown

    /// <summary>Near enough to the cap to check: other replicas and restores add signals this process does not see.</summary>
    public static int Margin(int maxSignals) => Math.Max(100, maxSignals / 10);

    public bool WellUnderCap(int maxSignals)
    {
        var count = Interlocked.Read(ref _count);
        return count >= 0 && count + 1 < maxSignals - Margin(maxSignals);
    }

    /// <summary>One more signal stored by this process (nothing to add to while the count is unknown).</summary>
    public void Added()
    {
        long count;
        do
        {
            count = Interlocked.Read(ref _count);
            if (count < 0)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _count, count + 1, count) != count);
    }

    public void Counted(long count) => Interlocked.Exchange(ref _count, count);

    /// <summary>After a restore or an import: the next write counts again.</summary>
    public void Forget() => Interlocked.Exchange(ref _count, -1);
}
