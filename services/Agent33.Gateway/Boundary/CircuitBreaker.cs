using Agent33.Gateway.Catalog;

namespace Agent33.Gateway.Boundary;

public enum CircuitState
{
    Closed,
    Open,
    HalfOpen,
}

/// <summary>A circuit transition, as <c>GET /v1/connectors/{id}/events</c> lists it.</summary>
public sealed record CircuitEvent(string ConnectorId, string OldState, string NewState, DateTimeOffset Timestamp);

/// <summary>
/// One connector's breaker, shared by every route and request in the process. Opens after
/// <c>FailureThreshold</c> consecutive failures; stays open recovery × 2^(trips−1), capped; then half-open,
/// where <c>HalfOpenSuccessThreshold</c> consecutive successes close it and any failure re-opens it.
/// Polly's built-in breaker has neither the half-open success threshold nor the trip-count backoff, so
/// this state machine is what the pipeline's custom strategy consults.
/// </summary>
public sealed class CircuitBreaker(string connectorId, CircuitOptions options, TimeProvider time, Action<CircuitEvent> onTransition)
{
    private const int MaxEvents = 100;

    private readonly Lock _lock = new();
    private readonly LinkedList<CircuitEvent> _events = new();
    private CircuitState _state = CircuitState.Closed;
    private int _consecutiveFailures;
    private int _halfOpenSuccesses;
    private int _trips;
    private DateTimeOffset? _openedAt;
    private DateTimeOffset? _lastTripAt;

    public CircuitOptions Options => options;

    /// <summary>Whether a call may go ahead now; when not, how long until the circuit half-opens.</summary>
    public bool TryEnter(out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            retryAfter = TimeSpan.Zero;
            if (_state != CircuitState.Open)
            {
                return true;
            }
            var remaining = _openedAt!.Value + EffectiveRecovery() - time.GetUtcNow();
            if (remaining > TimeSpan.Zero)
            {
                retryAfter = remaining;
                return false;
            }
            Move(CircuitState.HalfOpen);
            _halfOpenSuccesses = 0;
            return true;
        }
    }

    public void RecordSuccess()
    {
        lock (_lock)
        {
            _consecutiveFailures = 0;
            if (_state == CircuitState.HalfOpen && ++_halfOpenSuccesses >= options.HalfOpenSuccessThreshold)
            {
                Move(CircuitState.Closed);
            }
        }
    }

    public void RecordFailure()
    {
        lock (_lock)
        {
            _consecutiveFailures++;
            if (_state == CircuitState.HalfOpen || (_state == CircuitState.Closed && _consecutiveFailures >= options.FailureThreshold))
            {
                Trip();
            }
        }
    }

    /// <summary>An operator's reset: closed, counters and backoff back to zero.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _consecutiveFailures = 0;
            _halfOpenSuccesses = 0;
            _trips = 0;
            _openedAt = null;
            if (_state != CircuitState.Closed)
            {
                Move(CircuitState.Closed);
            }
        }
    }

    public CircuitSnapshot Snapshot()
    {
        lock (_lock)
        {
            var remaining = _state == CircuitState.Open ? _openedAt!.Value + EffectiveRecovery() - time.GetUtcNow() : TimeSpan.Zero;
            return new CircuitSnapshot(Name(_state), _consecutiveFailures, _trips, _lastTripAt, options.FailureThreshold,
                options.RecoveryTimeoutSeconds, options.HalfOpenSuccessThreshold, options.MaxRecoveryTimeoutSeconds,
                EffectiveRecovery().TotalSeconds, Math.Max(0, remaining.TotalSeconds));
        }
    }

    public IReadOnlyList<CircuitEvent> Events(int limit)
    {
        lock (_lock)
        {
            return [.. _events.Take(limit)];
        }
    }

    public CircuitState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    private TimeSpan EffectiveRecovery()
    {
        var factor = Math.Pow(2, Math.Max(0, _trips - 1));
        return TimeSpan.FromSeconds(Math.Min(options.RecoveryTimeoutSeconds * factor, options.MaxRecoveryTimeoutSeconds));
    }

    private void Trip()
    {
        _trips++;
        _openedAt = _lastTripAt = time.GetUtcNow();
        _halfOpenSuccesses = 0;
        _consecutiveFailures = 0; // as the reference: the count starts again from the trip
        Move(CircuitState.Open);
    }

    private void Move(CircuitState next)
    {
        var change = new CircuitEvent(connectorId, Name(_state), Name(next), time.GetUtcNow());
        _state = next;
        _events.AddFirst(change);
        if (_events.Count > MaxEvents)
        {
            _events.RemoveLast();
        }
        onTransition(change);
    }

    public static string Name(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        _ => "half_open",
    };
}

/// <summary>The contract's <c>circuit</c> object.</summary>
public sealed record CircuitSnapshot(
    string State, int ConsecutiveFailures, int TotalTrips, DateTimeOffset? LastTripAt, int FailureThreshold,
    double RecoveryTimeoutSeconds, int HalfOpenSuccessThreshold, double MaxRecoveryTimeoutSeconds,
    double EffectiveRecoveryTimeoutSeconds, double CooldownRemainingSeconds);
