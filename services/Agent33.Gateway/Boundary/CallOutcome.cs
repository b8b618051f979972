namespace Agent33.Gateway.Boundary;

/// <summary>How one call (or one attempt of it) ended; each is counted once in <c>connector_calls_total</c>.</summary>
public enum CallOutcome
{
    Success,

    /// <summary>A 4xx from the upstream.</summary>
    ClientError,

    /// <summary>The upstream's fault: a 5xx, a refused or reset connection.</summary>
    Failure,

    /// <summary>The connector's own timeout (or a stream silent for its idle timeout).</summary>
    Timeout,
    CircuitOpen,
    GovernanceBlocked,

    /// <summary>
    /// The caller's fault: a request the gateway or the forwarder refuses (a header, target, body or model it cannot
    /// send), or a caller-chosen timeout shorter than the connector's own. Never retried, never seen by the breaker.
    /// </summary>
    CallerError,

    /// <summary>The caller went away before the answer was complete.</summary>
    ClientCancelled,
}

public static class CallOutcomes
{
    /// <summary>The <c>outcome</c> label of each <see cref="CallOutcome"/>, in the enum's order.</summary>
    public static readonly string[] Labels =
        ["success", "client_error", "failure", "timeout", "circuit_open", "governance_blocked", "caller_error", "client_cancelled"];

    public static string Label(this CallOutcome outcome) => Labels[(int)outcome];

    /// <summary>What the caller caused: counted, answered, but never moving the connector's shared state.</summary>
    public static bool IsCallerFault(this CallOutcome outcome) => outcome is CallOutcome.CallerError or CallOutcome.ClientCancelled;
}
