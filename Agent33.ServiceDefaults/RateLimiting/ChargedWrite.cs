namespace Agent33.ServiceDefaults.RateLimiting;

/// <summary>
/// Marks a request a service makes inside itself on behalf of a caller's request that the write limit has already
/// charged (a gateway's <c>/mcp</c> call reaching a connector's door in-process): the caller made one write, so the
/// sub-request is admitted like any other but takes no second token from the caller's bucket.
/// </summary>
/// <remarks>Set only by in-process code, as a request feature; nothing a client sends can set it.</remarks>
public sealed class ChargedWrite
{
    public static readonly ChargedWrite Feature = new();

    private ChargedWrite()
    {
    }
}
