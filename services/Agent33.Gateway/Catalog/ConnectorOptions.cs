namespace Agent33.Gateway.Catalog;

/// <summary>One connector (<c>Connectors:&lt;n&gt;</c>): where calls go and how the boundary treats them.</summary>
public sealed class ConnectorOptions
{
    public string Id { get; set; } = "";

    /// <summary><c>http</c>, <c>mcp</c> or <c>llm</c> (a model provider behind <c>/v1/chat/completions</c>).</summary>
    public string Kind { get; set; } = "http";

    public string Destination { get; set; } = "";

    /// <summary>
    /// More base URLs serving the same connector (<c>http</c> and <c>mcp</c>): each attempt goes to one of them, as
    /// YARP's load balancing picks.
    /// </summary>
    public List<string> Destinations { get; set; } = [];

    /// <summary><see cref="Destination"/> and then <see cref="Destinations"/>.</summary>
    public IEnumerable<string> AllDestinations => Destinations.Prepend(Destination);
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

    /// <summary>
    /// An <c>llm</c> connector's wire format: <c>openai</c> (chat completions at <c>{Destination}/chat/completions</c>),
    /// <c>anthropic</c> (Messages at <c>{Destination}/messages</c>), <c>openai-responses</c> (OpenAI Responses at
    /// <c>{Destination}/responses</c>). Every inbound API reaches every format.
    /// </summary>
    public string Format { get; set; } = "openai";

    /// <summary>The formats an <c>llm</c> connector may speak.</summary>
    public static readonly IReadOnlyList<string> LlmFormats = ["openai", "anthropic", "openai-responses"];

    /// <summary>The connector's own key, sent upstream as <c>Authorization: Bearer</c>; never the caller's.</summary>
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
