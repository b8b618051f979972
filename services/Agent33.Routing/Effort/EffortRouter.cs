using System.Buffers;
using System.Text;
using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.ServiceDefaults.Compatibility;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

/// <summary>The heuristic's verdict on its own (<c>POST /v1/routing/classify</c>).</summary>
public sealed record HeuristicDecision(string Effort, double Confidence, int Score, int LowThreshold, int HighThreshold, IReadOnlyList<string> Reasons);

/// <summary>
/// Chooses an agent call's effort — explicit request, then <c>tenant|domain</c>, tenant and domain policies,
/// then the deterministic heuristic, then the default — and derives model, token budget and cost, exactly
/// as the reference router does.
/// </summary>
public sealed class EffortRouter
{
    private static readonly (string Name, SearchValues<string> Keywords)[] KeywordCategories =
    [
        ("debugging", SearchValues.Create(["debug", "traceback", "stacktrace", "exception", "error", "crash"], StringComparison.Ordinal)),
        ("implementation", SearchValues.Create(["implement", "refactor", "patch", "migrate", "rewrite"], StringComparison.Ordinal)),
        ("analysis", SearchValues.Create(["analyze", "investigate", "compare", "benchmark", "profile"], StringComparison.Ordinal)),
        ("architecture", SearchValues.Create(["architecture", "design", "plan", "planning", "proposal"], StringComparison.Ordinal)),
        ("testing", SearchValues.Create(["pytest", "test", "tests", "coverage", "regression"], StringComparison.Ordinal)),
        ("operations", SearchValues.Create(["deploy", "docker", "kubernetes", "terraform", "helm"], StringComparison.Ordinal)),
        ("security", SearchValues.Create(["security", "vulnerability", "exploit", "cve", "pentest"], StringComparison.Ordinal)),
        ("incident", SearchValues.Create(["root cause", "postmortem", "incident", "outage", "downtime"], StringComparison.Ordinal)),
        ("optimization", SearchValues.Create(["optimize", "performance", "latency", "throughput", "bottleneck"], StringComparison.Ordinal)),
    ];

    private static readonly string[] EmptyInputsReasons = ["empty_or_missing_inputs"];
    private static readonly string[] FastPathReasons = ["simple_message_fast_path"];
    private static readonly string[] BalancedReasons = ["balanced_request"];

    [ThreadStatic]
    private static StringBuilder? _payload;

    private readonly PricingCatalog _pricing;
    private readonly bool _enabled;
    private readonly bool _heuristicEnabled;
    private readonly EffortLevel _defaultEffort;
    private readonly PerEffort<string?> _models;
    private readonly PerEffort<double> _multipliers;
    private readonly double _costPer1kTokens;
    private readonly int _lowThreshold;
    private readonly int _highThreshold;
    private readonly int _mediumPayload;
    private readonly int _largePayload;
    private readonly int _manyFields;
    private readonly int _highIterations;
    private readonly int _simpleMaxChars;
    private readonly int _simpleMaxWords;
    private readonly Dictionary<string, EffortLevel> _tenantPolicies;
    private readonly Dictionary<string, EffortLevel> _domainPolicies;
    private readonly Dictionary<string, EffortLevel> _tenantDomainPolicies;

    public EffortRouter(IOptions<RoutingOptions> options, PricingCatalog pricing)
    {
        var o = options.Value;
        var h = o.Heuristic;
        _pricing = pricing;
        _enabled = o.Enabled;
        _heuristicEnabled = o.HeuristicEnabled;
        _defaultEffort = EffortLevels.TryParse(o.DefaultEffort, out var d) ? d : EffortLevel.Medium;
        _models = new PerEffort<string?>
        {
            Low = NullIfEmpty(o.Models.Low),
            Medium = NullIfEmpty(o.Models.Medium),
            High = NullIfEmpty(o.Models.High),
        };
        _multipliers = o.TokenMultipliers;
        _costPer1kTokens = Math.Max(0, o.CostPer1kTokens);
        // The same clamps as the reference's constructor, so edge settings behave identically.
        _lowThreshold = Math.Max(0, h.LowScoreThreshold);
        _highThreshold = Math.Max(_lowThreshold + 1, h.HighScoreThreshold);
        _mediumPayload = Math.Max(1, h.MediumPayloadChars);
        _largePayload = Math.Max(_mediumPayload + 1, h.LargePayloadChars);
        _manyFields = Math.Max(1, h.ManyInputFieldsThreshold);
        _highIterations = Math.Max(1, h.HighIterationThreshold);
        _simpleMaxChars = Math.Max(1, h.SimpleMaxChars);
        _simpleMaxWords = Math.Max(1, h.SimpleMaxWords);
        _tenantPolicies = Policies(o.Policies.Tenant, lowerKeys: false);
        _domainPolicies = Policies(o.Policies.Domain, lowerKeys: true);
        _tenantDomainPolicies = Policies(o.Policies.TenantDomain, lowerKeys: true);
    }

    public EffortDecision Resolve(DecisionRequest request)
    {
        var tenant = (request.TenantId ?? "").Trim();
        var domain = (request.Domain ?? "").Trim().ToLowerInvariant();
        var maxTokens = request.MaxTokens ?? 0;

        EffortLevel effort;
        EffortSource source;
        string? policyKey = null;
        HeuristicDecision? heuristic = null;
        if (request.Effort is not null)
        {
            effort = EffortLevels.TryParse(request.Effort, out var explicitEffort) ? explicitEffort : _defaultEffort;
            source = EffortSource.Request;
        }
        else if (ResolvePolicy(tenant, domain) is ({ } policyEffort, var key))
        {
            effort = policyEffort;
            policyKey = key;
            source = EffortSource.Policy;
        }
        else if (_heuristicEnabled)
        {
            heuristic = Classify(request.Inputs, request.Iterative ?? false, request.MaxIterations);
            EffortLevels.TryParse(heuristic.Effort, out effort);
            source = EffortSource.Heuristic;
        }
        else
        {
            effort = _defaultEffort;
            source = EffortSource.Default;
        }

        string model;
        double multiplier;
        int budget;
        if (_enabled)
        {
            model = NullIfEmpty(request.RequestedModel) ?? _models[effort] ?? request.DefaultModel ?? "";
            multiplier = _multipliers[effort];
            budget = Math.Max(1, (int)(maxTokens * multiplier));
        }
        else
        {
            model = NullIfEmpty(request.RequestedModel) ?? request.DefaultModel ?? "";
            multiplier = 1.0;
            budget = maxTokens;
        }

        var cost = EstimateCost(model, request.Provider, budget);
        return new EffortDecision(
            effort.Name(), source.Name(), model, budget, multiplier, budget,
            cost?.Amount, cost?.Status, cost?.Source, cost?.SourceUrl, cost?.FetchedAt,
            tenant.Length > 0 ? tenant : null,
            domain.Length > 0 ? domain : null,
            policyKey,
            heuristic?.Confidence, heuristic?.Score, heuristic?.LowThreshold, heuristic?.HighThreshold,
            heuristic?.Reasons ?? []);
    }

    /// <summary>The deterministic heuristic over the request's shape.</summary>
    public HeuristicDecision Classify(JsonElement? inputs, bool iterative, int? maxIterations)
    {
        if (inputs is not { ValueKind: JsonValueKind.Object } obj || !obj.EnumerateObject().Any())
        {
            return Verdict(EffortLevel.Low, 0.8, 0, EmptyInputsReasons);
        }

        var payload = _payload ??= new StringBuilder(4096);
        payload.Clear();
        PythonJson.AppendDumps(obj, payload);
        var length = payload.Length;
        var lowered = ArrayPool<char>.Shared.Rent(length);
        try
        {
            var codePoints = 0;
            var index = 0;
            foreach (var chunk in payload.GetChunks())
            {
                foreach (var c in chunk.Span)
                {
                    if (!char.IsLowSurrogate(c))
                    {
                        codePoints++;
                    }
                    // Python's lower() turns U+0130 into "i" + U+0307; no keyword can match across the dot.
                    lowered[index++] = c == '\u0130' ? '\u0307' : char.ToLowerInvariant(c);
                }
            }
            var text = lowered.AsSpan(0, length);

            if (!iterative && IsSimpleMessage(text, codePoints))
            {
                return Verdict(EffortLevel.Low, 0.85, 0, FastPathReasons);
            }

            var score = 0;
            var reasons = new List<string>(5);
            if (iterative)
            {
                score += 2;
                reasons.Add("iterative_mode");
            }
            if (maxIterations is { } iterations && iterations >= _highIterations)
            {
                score += 1;
                reasons.Add("high_iteration_budget");
            }
            if (codePoints >= _largePayload)
            {
                score += 2;
                reasons.Add("large_payload");
            }
            else if (codePoints >= _mediumPayload)
            {
                score += 1;
                reasons.Add("medium_payload");
            }
            if (DistinctKeys(obj) >= _manyFields)
            {
                score += 1;
                reasons.Add("many_input_fields");
            }
            var categories = 0;
            foreach (var (_, keywords) in KeywordCategories)
            {
                if (text.ContainsAny(keywords))
                {
                    categories++;
                }
            }
            if (categories > 0)
            {
                score += categories;
                reasons.Add("complex_task_keywords");
            }

            var (effort, confidence) = score >= _highThreshold ? (EffortLevel.High, 0.8)
                : score <= _lowThreshold ? (EffortLevel.Low, 0.72)
                : (EffortLevel.Medium, 0.68);
            return Verdict(effort, confidence, score, reasons.Count > 0 ? reasons : BalancedReasons);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(lowered);
            if (payload.Capacity > 64 * 1024)
            {
                _payload = null; // do not keep one huge request's buffer alive per thread
            }
        }
    }

    /// <summary>
    /// Short, few words, no code fence, no URL, no task keyword: low effort without scoring. The checks on
    /// case-insensitive text are exact on the lowered payload (a fence and "://" have no case).
    /// </summary>
    private bool IsSimpleMessage(ReadOnlySpan<char> lowered, int codePoints)
    {
        if (codePoints > _simpleMaxChars || codePoints >= _mediumPayload)
        {
            return false;
        }
        if (CountWords(lowered) > _simpleMaxWords || lowered.Contains("```", StringComparison.Ordinal) || ContainsUrl(lowered))
        {
            return false;
        }
        foreach (var (_, keywords) in KeywordCategories)
        {
            if (lowered.ContainsAny(keywords))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Python's <c>re.search(r"https?://", re.IGNORECASE)</c>, where "s" also matches the long s (U+017F).</summary>
    private static bool ContainsUrl(ReadOnlySpan<char> lowered)
    {
        var at = lowered.IndexOf("http", StringComparison.Ordinal);
        while (at >= 0)
        {
            var rest = lowered[(at + 4)..];
            if (rest.StartsWith("://", StringComparison.Ordinal)
                || (rest.Length > 0 && rest[0] is 's' or '\u017F' && rest[1..].StartsWith("://", StringComparison.Ordinal)))
            {
                return true;
            }
            var next = rest.IndexOf("http", StringComparison.Ordinal);
            at = next < 0 ? -1 : at + 4 + next;
        }
        return false;
    }

    /// <summary><c>len(text.split())</c>: runs of non-whitespace.</summary>
    private static int CountWords(ReadOnlySpan<char> text)
    {
        var words = 0;
        var inWord = false;
        foreach (var c in text)
        {
            var space = char.IsWhiteSpace(c);
            if (!space && !inWord)
            {
                words++;
            }
            inWord = !space;
        }
        return words;
    }

    /// <summary>Top-level keys as Python's dict holds them: a repeated key counts once.</summary>
    private static int DistinctKeys(JsonElement obj)
    {
        var count = 0;
        HashSet<string>? seen = null;
        foreach (var property in obj.EnumerateObject())
        {
            seen ??= new HashSet<string>(StringComparer.Ordinal);
            if (seen.Add(property.Name))
            {
                count++;
            }
        }
        return count;
    }

    private HeuristicDecision Verdict(EffortLevel effort, double confidence, int score, IReadOnlyList<string> reasons) =>
        new(effort.Name(), confidence, score, _lowThreshold, _highThreshold, reasons);

    private (EffortLevel? Effort, string? Key) ResolvePolicy(string tenant, string domain)
    {
        if (tenant.Length > 0 && domain.Length > 0)
        {
            var composite = $"{tenant}|{domain}";
            if (_tenantDomainPolicies.TryGetValue(composite, out var both))
            {
                return (both, composite);
            }
        }
        if (tenant.Length > 0 && _tenantPolicies.TryGetValue(tenant, out var byTenant))
        {
            return (byTenant, tenant);
        }
        if (domain.Length > 0 && _domainPolicies.TryGetValue(domain, out var byDomain))
        {
            return (byDomain, domain);
        }
        return (null, null);
    }

    private CostEstimate? EstimateCost(string model, string? provider, int budget)
    {
        if (!string.IsNullOrEmpty(provider) && _pricing.Lookup(provider, model) is { } entry)
        {
            return new CostEstimate(PricingCatalog.Cost(entry, budget), "estimated", entry.Source, entry.SourceUrl, entry.FetchedAt);
        }
        if (_costPer1kTokens > 0)
        {
            return new CostEstimate(PythonRound.Round(budget / 1000.0 * _costPer1kTokens, 6), "estimated", "legacy_flat_rate", null, null);
        }
        return null;
    }

    /// <summary>
    /// Prices a call's actual usage with the catalogue the estimates use: the model's entry prices prompt tokens at
    /// its input and completion tokens at its output price; a model without one falls back, as an estimate does, to
    /// the flat <c>Routing:CostPer1kTokens</c> over all tokens, and with no flat rate either it stays unpriced.
    /// Rounded as the estimates are: catalogue prices quantized to 6 places half-even, the flat rate as Python's round.
    /// </summary>
    public PricedUsage PriceUsage(string model, string? provider, int promptTokens, int completionTokens)
    {
        var total = promptTokens + completionTokens;
        if (_pricing.LookupModel(provider, model) is { } entry)
        {
            return new PricedUsage(model, promptTokens, completionTokens, total,
                PricingCatalog.Cost(entry, promptTokens, completionTokens), CostStatus.Catalogue, entry.Source);
        }
        if (_costPer1kTokens > 0)
        {
            return new PricedUsage(model, promptTokens, completionTokens, total,
                PythonRound.Round(total / 1000.0 * _costPer1kTokens, 6), CostStatus.FlatRate, "legacy_flat_rate");
        }
        return new PricedUsage(model, promptTokens, completionTokens, total, null, CostStatus.Unpriced, null);
    }

    private static Dictionary<string, EffortLevel> Policies(Dictionary<string, string> configured, bool lowerKeys)
    {
        var policies = new Dictionary<string, EffortLevel>(StringComparer.Ordinal);
        foreach (var (key, value) in configured)
        {
            var normalized = key.Trim();
            if (normalized.Length == 0 || !EffortLevels.TryParse(value.Trim().ToLowerInvariant(), out var effort))
            {
                continue;
            }
            policies[lowerKeys ? normalized.ToLowerInvariant() : normalized] = effort;
        }
        return policies;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private sealed record CostEstimate(double Amount, string Status, string Source, string? SourceUrl, string? FetchedAt);
}
