namespace Agent33.Gateway.Boundary;

/// <summary>Per-connector call statistics for the monitoring API: totals and a bounded latency sample.</summary>
public sealed class CallStats
{
    private const int SampleSize = 512;
    private readonly Lock _lock = new();
    private readonly double[] _latencies = new double[SampleSize];
    private int _next;
    private int _filled;
    private long _successes;
    private long _failures;
    private long _callerErrors;
    private long _clientCancelled;

    public void Record(bool success, TimeSpan duration)
    {
        lock (_lock)
        {
            if (success)
            {
                _successes++;
            }
            else
            {
                _failures++;
            }
            _latencies[_next] = duration.TotalMilliseconds;
            _next = (_next + 1) % SampleSize;
            _filled = Math.Min(_filled + 1, SampleSize);
        }
    }

    /// <summary>A call the caller ended or spoiled: counted apart, never in the upstream's success rate or latency.</summary>
    public void RecordCallerFault(CallOutcome outcome)
    {
        Interlocked.Increment(ref outcome == CallOutcome.ClientCancelled ? ref _clientCancelled : ref _callerErrors);
    }

    public CallMetrics Snapshot()
    {
        lock (_lock)
        {
            var total = _successes + _failures;
            var sample = _latencies.AsSpan(0, _filled).ToArray();
            Array.Sort(sample);
            var p95 = sample.Length == 0 ? 0 : sample[Math.Min(sample.Length - 1, (int)Math.Ceiling(0.95 * sample.Length) - 1)];
            return new CallMetrics(total, _successes, _failures,
                total == 0 ? 0.0 : Math.Round(_successes / (double)total, 4),
                sample.Length == 0 ? 0 : Math.Round(sample.Average(), 3),
                Math.Round(p95, 3),
                total == 0 ? 0.0 : Math.Round(_failures / (double)total, 4),
                Interlocked.Read(ref _callerErrors), Interlocked.Read(ref _clientCancelled));
        }
    }
}

/// <summary>
/// The contract's <c>metrics</c> object: the upstream's record (totals, rates, latency), and beside it the calls
/// that ended through the caller's fault (<c>caller_error</c>, <c>client_cancelled</c>), which that record leaves out.
/// </summary>
public sealed record CallMetrics(long TotalCalls, long Successes, long Failures, double SuccessRate, double AvgLatencyMs, double P95LatencyMs, double ErrorRate,
    long CallerErrors, long ClientCancelled);
