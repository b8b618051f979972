namespace Agent33.Gateway.Llm;

/// <summary>The LLM endpoint's settings (<c>Llm:*</c>).</summary>
public sealed class LlmOptions
{
    public const string Section = "Llm";

    /// <summary>The model used when the routing service does not answer.</summary>
    public string DefaultModel { get; set; } = "gpt-4o-mini";

    /// <summary>The model an embeddings call with <c>model: "auto"</c> (or none) gets: embeddings have no effort to route by.</summary>
    public string EmbeddingModel { get; set; } = "text-embedding-3-small";

    /// <summary>The token budget routing starts from when a call names none (the router scales it by effort).</summary>
    public int DefaultMaxTokens { get; set; } = 4096;

    /// <summary>The largest event of a streamed answer the gateway relays; a larger one ends the stream (1 MiB).</summary>
    public int MaxEventBytes { get; set; } = 1024 * 1024;

    /// <summary>How long an unrenewed budget reservation lives (default: the longest llm connector timeout + 60 s).</summary>
    public double? ReservationTtlSeconds { get; set; }

    /// <summary>Per-tenant daily budgets (<c>Llm:Budgets:&lt;tenant&gt;:DailyUsd</c>, <c>:DailyTokens</c>).</summary>
    public Dictionary<string, Spend.LlmBudget> Budgets { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Stored responses of <c>/v1/responses</c> (<c>Llm:Responses:RetentionDays</c>).</summary>
    public ResponsesOptions Responses { get; set; } = new();
}
