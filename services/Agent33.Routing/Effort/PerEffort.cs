namespace Agent33.Routing.Effort;

public sealed class PerEffort<T>
{
    public T Low { get; set; } = default!;
    public T Medium { get; set; } = default!;
    public T High { get; set; } = default!;

    public T this[EffortLevel effort] => effort switch
    {
        EffortLevel.Low => Low,
        EffortLevel.Medium => Medium,
        _ => High,
    };
}
