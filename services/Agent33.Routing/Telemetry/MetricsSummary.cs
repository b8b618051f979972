namespace Agent33.Routing.Telemetry;

/// <summary>
/// The reference's in-memory metrics summary behind <c>/v1/dashboard/metrics</c> and the alert rules:
/// labelled counters, and observations with lifetime statistics plus the same statistics over a rolling
/// window. Lifetime figures are running aggregates, the window keeps only its own values.
/// </summary>
public sealed class MetricsSummary(TimeProvider time, TimeSpan window)
{
    private const int MaxWindowValues = 200_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, SortedDictionary<string, long>> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Observation> _observations = new(StringComparer.Ordinal);

    public TimeSpan Window => window;

    public void Increment(string name, string labelKey = "")
    {
        lock (_lock)
        {
            if (!_counters.TryGetValue(name, out var labels))
            {
                _counters[name] = labels = new SortedDictionary<string, long>(StringComparer.Ordinal);
            }
            labels[labelKey] = labels.GetValueOrDefault(labelKey) + 1;
        }
    }

    /// <summary>
    /// Records one value. With labels it is kept under its own key, <c>name(effort=high,source=policy)</c>, as
    /// the reference's summary shows it; recording the unlabelled aggregate too is the caller's choice.
    /// </summary>
    public void Observe(string name, double value, string labelKey = "")
    {
        var key = ObservationKey(name, labelKey);
        lock (_lock)
        {
            if (!_observations.TryGetValue(key, out var observation))
            {
                _observations[key] = observation = new Observation();
            }
            observation.Add(time.GetUtcNow(), value);
        }
    }

    /// <summary>The summary key of an observation: its name, with the label key in parentheses when it has labels.</summary>
    public static string ObservationKey(string name, string labelKey) => labelKey.Length == 0 ? name : $"{name}({labelKey})";

    /// <summary>A counter's total (all labels), or null when it has never been incremented.</summary>
    public long? CounterTotal(string name)
    {
        lock (_lock)
        {
            return _counters.TryGetValue(name, out var labels) ? labels.Values.Sum() : null;
        }
    }

    /// <summary>
    /// The value a rule reads, as the reference extracts it: a plain counter is its value; labelled
    /// counters give their largest label for "value"; observations give the named statistic (lifetime),
    /// and "value" is their count. <paramref name="name"/> is a summary key, so a labelled observation
    /// (<c>effort_routing_estimated_cost_usd(effort=high,source=policy)</c>) is read like any other.
    /// </summary>
    public double? Statistic(string name, string statistic)
    {
        lock (_lock)
        {
            if (_counters.TryGetValue(name, out var labels))
            {
                if (labels.Count == 1 && labels.ContainsKey(""))
                {
                    return labels[""];
                }
                return statistic == "value" && labels.Count > 0 ? labels.Values.Max() : null;
            }
            if (_observations.TryGetValue(name, out var observation) && observation.Count > 0)
            {
                return statistic switch
                {
                    "count" or "value" => observation.Count,
                    "sum" => observation.Sum,
                    "avg" => observation.Sum / observation.Count,
                    "min" => observation.Min,
                    "max" => observation.Max,
                    _ => null,
                };
            }
            return null;
        }
    }

    /// <summary>The reference's summary shape: counters as numbers or <c>{"a=x,b=y": n}</c>, observations as statistics.</summary>
    public Dictionary<string, object> Snapshot()
    {
        lock (_lock)
        {
            var summary = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var (name, labels) in _counters)
            {
                summary[name] = labels.Count == 1 && labels.ContainsKey("") ? labels[""] : new Dictionary<string, long>(labels);
            }
            var cutoff = time.GetUtcNow() - window;
            foreach (var (name, observation) in _observations)
            {
                if (observation.Count > 0)
                {
                    summary[name] = observation.Describe(cutoff);
                }
            }
            return summary;
        }
    }

    /// <summary>
    /// What the reference's <c>GET /v1/dashboard/metrics</c> answers while its summary is empty (its
    /// <c>_DEFAULT_METRICS</c>), so a dashboard built for it renders before the first decision.
    /// </summary>
    public static Dictionary<string, object> EmptyDefault() => new(StringComparer.Ordinal)
    {
        ["active_workflows"] = 0,
        ["error_count"] = 0,
        ["token_usage"] = 0,
        ["request_latency"] = new Dictionary<string, double>(StringComparer.Ordinal) { ["count"] = 0, ["sum"] = 0, ["avg"] = 0, ["min"] = 0, ["max"] = 0 },
        [RoutingMetrics.HighEffort] = 0,
    };

    /// <summary><c>effort=high,source=heuristic</c>: labels sorted by name, as the reference keys them.</summary>
    public static string LabelKey(params (string Name, string Value)[] labels) =>
        string.Join(',', labels.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => $"{l.Name}={l.Value}"));

    private sealed class Observation
    {
        private readonly Queue<(DateTimeOffset At, double Value)> _window = new();

        public long Count { get; private set; }
        public double Sum { get; private set; }
        public double Min { get; private set; } = double.PositiveInfinity;
        public double Max { get; private set; } = double.NegativeInfinity;

        public void Add(DateTimeOffset at, double value)
        {
            Count++;
            Sum += value;
            Min = Math.Min(Min, value);
            Max = Math.Max(Max, value);
            _window.Enqueue((at, value));
            if (_window.Count > MaxWindowValues)
            {
                _window.Dequeue(); // bounded memory: the window keeps its newest values
            }
        }

        public Dictionary<string, double> Describe(DateTimeOffset cutoff)
        {
            while (_window.TryPeek(out var oldest) && oldest.At < cutoff)
            {
                _window.Dequeue();
            }
            var windowCount = _window.Count;
            var windowSum = 0.0;
            var windowMin = double.PositiveInfinity;
            var windowMax = double.NegativeInfinity;
            foreach (var (_, value) in _window)
            {
                windowSum += value;
                windowMin = Math.Min(windowMin, value);
                windowMax = Math.Max(windowMax, value);
            }
            return new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["count"] = Count,
                ["sum"] = Sum,
                ["avg"] = Sum / Count,
                ["min"] = Min,
                ["max"] = Max,
                ["window_count"] = windowCount,
                ["window_sum"] = windowSum,
                ["window_avg"] = windowCount > 0 ? windowSum / windowCount : 0,
                ["window_min"] = windowCount > 0 ? windowMin : 0,
                ["window_max"] = windowCount > 0 ? windowMax : 0,
            };
        }
    }
}
