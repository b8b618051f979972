using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Connectors;

/// <summary>One connector (<c>Connectors:&lt;n&gt;</c>): where calls go and how the boundary treats them.</summary>
public sealed class ConnectorOptions
{
    public string Id { get; set; } = "";

    /// <summary><c>http</c>, <c>mcp</c> or <c>llm</c> (a model provider behind <c>/v1/chat/completions</c>).</summary>
    public string Kind { get; set; } = "http";

    public string Destination { get; set; } = "";
    public string? Name { get; set; }
    public string? PolicyPack { get; set; }

    /// <summary>Time until the upstream's response headers (and the whole body of an answer with a Content-Length).</summary>
    public double TimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// After its headers, a streaming answer (<c>text/event-stream</c>, or a body without a Content-Length) is cut only
    /// when no byte arrives for this long (or the caller goes away); the total timeout no longer applies to it.
    /// </summary>
    public double StreamIdleTimeoutSeconds { get; set; } = 300;

    /// <summary>The most a caller's <c>X-Connector-Timeout</c> may ask for.</summary>
    public double MaxTimeoutSeconds { get; set; } = 120;

    public int RetryAttempts { get; set; } = 2;
    public int RetryBaseDelayMilliseconds { get; set; } = 200;
    public CircuitOptions Circuit { get; set; } = new();
    public ToolRules Tools { get; set; } = new();

    /// <summary>
    /// <c>X-Connector-Operation</c> labels this connector's callers use (e.g. <c>search</c>, <c>export</c>). Metrics keep
    /// them as they are; any other label is counted as <c>other</c>, so callers cannot grow the label set.
    /// </summary>
    public List<string> Operations { get; set; } = [];

    /// <summary>An <c>llm</c> connector: the models it serves, as globs (<c>gpt-4o*</c>); the first connector that matches serves a model.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>An <c>llm</c> connector's wire format; <c>openai</c> (chat completions at <c>{Destination}/chat/completions</c>).</summary>
    public string Format { get; set; } = "openai";

    /// <summary>An <c>llm</c> connector's provider key, sent upstream as <c>Authorization: Bearer</c>; never the caller's.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Host globs a caller may target with <c>X-Connector-Target</c> (connectors such as <c>tool:web_fetch</c>
    /// whose URL comes from the caller). Empty: the connector only ever reaches its <see cref="Destination"/>.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Whether a caller-supplied target may resolve to loopback, private, link-local or metadata addresses.</summary>
    public bool AllowPrivateNetworks { get; set; }

    public bool TakesCallerTargets => AllowedHosts.Count > 0;
}

public sealed class CircuitOptions
{
    public int FailureThreshold { get; set; } = 3;
    public double RecoveryTimeoutSeconds { get; set; } = 30;
    public int HalfOpenSuccessThreshold { get; set; } = 2;
    public double MaxRecoveryTimeoutSeconds { get; set; } = 300;
}

public sealed class ToolRules
{
    public List<string> Allow { get; set; } = [];
    public List<string> Deny { get; set; } = [];
}

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

/// <summary>The catalogue, validated at start: a bad setting stops the gateway with a message naming it.</summary>
public sealed class ConnectorCatalog
{
    public ConnectorCatalog(IConfiguration configuration, IOptions<GovernanceOptions> governance)
    {
        var connectors = configuration.GetSection("Connectors").Get<List<ConnectorOptions>>() ?? [];
        var errors = new List<string>();
        if (!PolicyPacks.IsKnown(governance.Value.PolicyPack))
        {
            errors.Add($"Governance:PolicyPack '{governance.Value.PolicyPack}' is not a policy pack; use one of {string.Join(", ", PolicyPacks.Names)}.");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < connectors.Count; i++)
        {
            var c = connectors[i];
            var at = $"Connectors:{i}";
            if (!IsValidId(c.Id))
            {
                errors.Add($"{at}:Id must be printable ASCII without '/', '?', '#', braces or spaces (got '{c.Id}').");
            }
            else if (!seen.Add(c.Id))
            {
                errors.Add($"{at}:Id '{c.Id}' is used twice.");
            }
            if (c.Kind is not ("http" or "mcp" or "llm"))
            {
                errors.Add($"{at}:Kind must be http, mcp or llm, not '{c.Kind}'.");
            }
            if (c.Kind == "llm" && (c.Models.Count == 0 || c.Models.Any(string.IsNullOrWhiteSpace) || c.Format != "openai"))
            {
                errors.Add($"{at}: an llm connector needs Models:<m> (model globs) and Format openai.");
            }
            if (!Uri.TryCreate(c.Destination, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                errors.Add($"{at}:Destination must be an absolute http(s) URL, not '{c.Destination}'.");
            }
            if (c.PolicyPack is not null && !PolicyPacks.IsKnown(c.PolicyPack))
            {
                errors.Add($"{at}:PolicyPack '{c.PolicyPack}' is not a policy pack; use one of {string.Join(", ", PolicyPacks.Names)}.");
            }
            if (c.TimeoutSeconds <= 0 || c.MaxTimeoutSeconds < c.TimeoutSeconds)
            {
                errors.Add($"{at}:TimeoutSeconds must be positive and at most {at}:MaxTimeoutSeconds.");
            }
            if (c.StreamIdleTimeoutSeconds <= 0)
            {
                errors.Add($"{at}:StreamIdleTimeoutSeconds must be positive.");
            }
            if (c.RetryAttempts is < 0 or > 10 || c.RetryBaseDelayMilliseconds < 0)
            {
                errors.Add($"{at}:RetryAttempts must be 0 to 10 and {at}:RetryBaseDelayMilliseconds not negative.");
            }
            if (c.Circuit.FailureThreshold < 1 || c.Circuit.HalfOpenSuccessThreshold < 1 || c.Circuit.RecoveryTimeoutSeconds <= 0
                || c.Circuit.MaxRecoveryTimeoutSeconds < c.Circuit.RecoveryTimeoutSeconds)
            {
                errors.Add($"{at}:Circuit needs FailureThreshold and HalfOpenSuccessThreshold of at least 1 and 0 < RecoveryTimeoutSeconds <= MaxRecoveryTimeoutSeconds.");
            }
        }
        if (governance.Value.MaxBufferedBodyBytes < 1 || governance.Value.MaxHeldResponseBytes < 1)
        {
            errors.Add("Governance:MaxBufferedBodyBytes and Governance:MaxHeldResponseBytes must be positive.");
        }
        if (errors.Count > 0)
        {
            throw new OptionsValidationException("Connectors", typeof(ConnectorOptions), errors);
        }
        Connectors = connectors.ToDictionary(c => c.Id, StringComparer.Ordinal);
    }

    public IReadOnlyDictionary<string, ConnectorOptions> Connectors { get; }

    /// <summary>An id fits a URL path segment and a header value: printable ASCII without separators.</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.All(ch => ch is > ' ' and < (char)0x7F and not ('/' or '?' or '#' or '{' or '}'));
}
