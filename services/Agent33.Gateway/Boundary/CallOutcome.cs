namespace Agent33.Gateway.Boundary;

/// <summary>How one call (or one attempt of it) ended; each is counted once in <c>connector_calls_total</c>.</summary>
public enum CallOutcome
{
    Success,

    /// <summary>A 4xx from the upstream, or the caller's own fault (body too large or cut short, caller gone).</summary>
    ClientError,

    /// <summary>A 5xx or a transport error.</summary>
    Failure,
    Timeout,
    CircuitOpen,
    GovernanceBlocked,
}
