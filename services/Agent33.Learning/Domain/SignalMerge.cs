namespace Agent33.Learning.Domain;

/// <summary>How a duplicate signal joins the one it repeats.</summary>
public static class SignalMerge
{
    /// <summary>The reference's merge: one more occurrence, the higher severity, the longer details, new context keys, re-scored.</summary>
    public static void Into(LearningSignal target, LearningSignal incoming)
    {
        target.OccurrenceCount++;
        var lastSeen = target.LastSeenAt ?? target.RecordedAt;
        target.LastSeenAt = incoming.RecordedAt > lastSeen ? incoming.RecordedAt : lastSeen;
        if (incoming.SeverityRank > target.SeverityRank)
        {
            target.Severity = incoming.Severity;
            target.SeverityRank = incoming.SeverityRank;
        }
        if (QualityScoring.CodePoints(incoming.Details) > QualityScoring.CodePoints(target.Details))
        {
            target.Details = incoming.Details;
        }
        if (incoming.Source.Length > 0 && target.Source.Length == 0)
        {
            target.Source = incoming.Source;
        }
        var context = new Dictionary<string, string>(target.Context);
        foreach (var (key, value) in incoming.Context)
        {
            context.TryAdd(key, value);
        }
        target.Context = context;
        QualityScoring.Apply(target);
    }
}
