using System.Buffers;
using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.Routing.Effort;

/// <summary>
/// The reference router's deterministic heuristic, compatible to the character: it reads the inputs as Python's
/// <c>json.dumps(inputs, sort_keys=True, ensure_ascii=False)</c> renders them (lengths in code points) and scores
/// iteration, payload size, input fields and task keywords against the low and high thresholds.
/// </summary>
public sealed class EffortHeuristic
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

    private readonly int _lowThreshold;
    private readonly int _highThreshold;
    private readonly int _mediumPayload;
    private readonly int _largePayload;
    private readonly int _manyFields;
    private readonly int _highIterations;
    private readonly int _simpleMaxChars;
    private readonly int _simpleMaxWords;

    public EffortHeuristic(HeuristicOptions h)
    {
        // The same clamps as the reference's constructor, so edge settings behave identically.
        _lowThreshold = Math.Max(0, h.LowScoreThreshold);
        _highThreshold = Math.Max(_lowThreshold + 1, h.HighScoreThreshold);
        _mediumPayload = Math.Max(1, h.MediumPayloadChars);
        _largePayload = Math.Max(_mediumPayload + 1, h.LargePayloadChars);
        _manyFields = Math.Max(1, h.ManyInputFieldsThreshold);
        _highIterations = Math.Max(1, h.HighIterationThreshold);
        _simpleMaxChars = Math.Max(1, h.SimpleMaxChars);
        _simpleMaxWords = Math.Max(1, h.SimpleMaxWords);
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
}
