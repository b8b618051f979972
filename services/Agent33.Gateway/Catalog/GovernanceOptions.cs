namespace Agent33.Gateway.Catalog;

/// <summary>Global governance (<c>Governance:*</c>).</summary>
public sealed class GovernanceOptions
{
    public const string Section = "Governance";

    public string PolicyPack { get; set; } = "default";
    public List<string> BlockedConnectors { get; set; } = [];
    public List<string> BlockedOperations { get; set; } = [];

    /// <summary>Largest request body buffered so a retry can resend it; larger bodies are sent once, unretried.</summary>
    public long MaxBufferedBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Largest upstream answer held back in memory: a failed attempt's answer (5xx, 408, 429) that may be retried or
    /// replaced, and an MCP <c>tools/list</c> answer that governance filters. Beyond it the upstream read is cut.
    /// </summary>
    public long MaxHeldResponseBytes { get; set; } = 1024 * 1024;
}
