using Agent33.Contracts.Routing;
using Agent33.ServiceDefaults.Compatibility;
using System.Text.Json;
using Agent33.Routing.Effort;

namespace Agent33.Routing.Tests;

public sealed class EffortRouterTests
{
    private static JsonElement Inputs(object value) => JsonSerializer.SerializeToElement(value);

    private static DecisionRequest Request(object? inputs = null, string? effort = null, string? tenant = null, string? domain = null,
        bool iterative = false, int? maxIterations = null, string? provider = null, string? requestedModel = null) =>
        new(requestedModel, "default-model", 1000, effort, tenant, domain, inputs is null ? null : Inputs(inputs), iterative, maxIterations, provider);

    private static readonly EffortRouter Tuned = RouterFactory.Create("tuned");

    [Fact]
    public void Precedence_is_request_then_tenant_domain_then_tenant_then_domain_then_heuristic()
    {
        Assert.Equal(("low", "request", null), Pick(Tuned.Resolve(Request(effort: "low", tenant: "tenant-gold", domain: "research"))));
        Assert.Equal(("medium", "policy", "tenant-free|research"), Pick(Tuned.Resolve(Request(tenant: " tenant-free ", domain: " Research "))));
        Assert.Equal(("high", "policy", "tenant-gold"), Pick(Tuned.Resolve(Request(tenant: "tenant-gold", domain: "billing"))));
        Assert.Equal(("medium", "policy", "billing"), Pick(Tuned.Resolve(Request(tenant: "someone", domain: "BILLING"))));
        Assert.Equal(("low", "heuristic", null), Pick(Tuned.Resolve(Request(new { prompt = "hi" }, tenant: "someone"))));

        static (string, string, string?) Pick(EffortDecision d) => (d.Effort, d.EffortSource, d.PolicyKey);
    }

    [Fact]
    public void A_bad_explicit_effort_falls_back_to_the_default_effort_from_the_request()
    {
        var decision = RouterFactory.Create("heuristic-off").Resolve(Request(effort: "HIGH!"));
        Assert.Equal(("high", "request"), (decision.Effort, decision.EffortSource)); // heuristic-off's default is high
        Assert.Equal(("medium", "request"), (Tuned.Resolve(Request(effort: "bogus")).Effort, "request"));
    }

    [Fact]
    public void Heuristic_off_uses_the_default_effort_and_scales_tokens()
    {
        var decision = RouterFactory.Create("heuristic-off").Resolve(Request(new { prompt = "hi" }));
        Assert.Equal(("high", "default", "big", 3000, 3.0), (decision.Effort, decision.EffortSource, decision.Model, decision.MaxTokens, decision.TokenMultiplier));
    }

    [Fact]
    public void Disabled_router_keeps_the_requested_or_default_model_and_the_budget()
    {
        var decision = RouterFactory.Create("disabled").Resolve(Request(new { prompt = "refactor the payment module" }));
        Assert.Equal(("default-model", 1000, 1.0, 0.001), (decision.Model, decision.MaxTokens, decision.TokenMultiplier, decision.EstimatedCost!.Value));
    }

    [Theory]
    [InlineData("hi there, how are you?", "simple_message_fast_path")]
    [InlineData("see https://example.org please", "complex_task_keywords")]
    [InlineData("see HTTP://EXAMPLE.ORG please", "complex_task_keywords")]
    [InlineData("```code``` please", "complex_task_keywords")]
    [InlineData("please debug this", "complex_task_keywords")]
    public void Fast_path_applies_only_to_short_plain_messages(string prompt, string firstReason)
    {
        var verdict = Tuned.Classify(Inputs(new { prompt }), iterative: false, maxIterations: null);
        if (firstReason == "simple_message_fast_path")
        {
            Assert.Equal(["simple_message_fast_path"], verdict.Reasons);
            Assert.Equal((0.85, "low"), (verdict.Confidence, verdict.Effort));
        }
        else
        {
            Assert.NotEqual("simple_message_fast_path", verdict.Reasons[0]);
        }
    }

    [Fact]
    public void Url_and_code_fence_leave_the_fast_path_even_without_keywords()
    {
        Assert.Equal(["balanced_request"], Tuned.Classify(Inputs(new { p = "see https://example.org" }), false, null).Reasons);
        Assert.Equal(["balanced_request"], Tuned.Classify(Inputs(new { p = "```x```" }), false, null).Reasons);
    }

    [Fact]
    public void Long_or_wordy_or_iterative_messages_leave_the_fast_path()
    {
        Assert.Equal(["balanced_request"], Tuned.Classify(Inputs(new { p = new string('a', 200) }), false, null).Reasons);
        Assert.Equal(["balanced_request"], Tuned.Classify(Inputs(new { p = string.Join(' ', Enumerable.Repeat("w", 40)) }), false, null).Reasons);
        Assert.Equal(["iterative_mode"], Tuned.Classify(Inputs(new { p = "hi" }), true, null).Reasons);
    }

    [Fact]
    public void Each_keyword_category_counts_once()
    {
        var verdict = Tuned.Classify(Inputs(new { p = "debug error crash traceback " + new string('x', 170) }), false, null);
        Assert.Equal((1, "low"), (verdict.Score, verdict.Effort));
        var spread = Tuned.Classify(Inputs(new { p = "debug refactor analyze design test deploy security incident optimize" }), false, null);
        Assert.Equal((9, "high", 0.8), (spread.Score, spread.Effort, spread.Confidence));
    }

    [Fact]
    public void Score_adds_iteration_payload_and_field_signals()
    {
        var fields = Enumerable.Range(0, 10).ToDictionary(i => $"k{i}", i => (object)"v");
        var verdict = Tuned.Classify(Inputs(fields), iterative: true, maxIterations: 15);
        Assert.Equal(["iterative_mode", "high_iteration_budget", "many_input_fields"], verdict.Reasons);
        Assert.Equal((4, "high"), (verdict.Score, verdict.Effort));

        var medium = Tuned.Classify(Inputs(new { p = new string('a', 900) }), false, null);
        Assert.Equal(["medium_payload"], medium.Reasons);
        Assert.Equal((1, "low", 0.72), (medium.Score, medium.Effort, medium.Confidence));
        var large = Tuned.Classify(Inputs(new { p = new string('a', 2100) }), false, null);
        Assert.Equal((2, "medium", 0.68), (large.Score, large.Effort, large.Confidence));
    }

    [Fact]
    public void Payload_length_counts_code_points_not_utf16_units()
    {
        // 70 rockets = 140 UTF-16 units but 70 code points, plus the JSON around them: under the 160 limit.
        var verdict = Tuned.Classify(Inputs(new { p = string.Concat(Enumerable.Repeat("🚀", 70)) }), false, null);
        Assert.Equal(["simple_message_fast_path"], verdict.Reasons);
    }

    [Fact]
    public void Thresholds_are_configurable()
    {
        var tight = RouterFactory.Create("reference-defaults", ("Routing:Heuristic:LowScoreThreshold", "0"), ("Routing:Heuristic:HighScoreThreshold", "1"));
        var verdict = tight.Classify(Inputs(new { p = "please debug " + new string('x', 170) }), false, null);
        Assert.Equal(("high", 0, 1), (verdict.Effort, verdict.LowThreshold, verdict.HighThreshold));
    }

    [Fact]
    public void Empty_inputs_are_low_effort()
    {
        Assert.Equal(["empty_or_missing_inputs"], Tuned.Classify(null, false, null).Reasons);
        Assert.Equal(["empty_or_missing_inputs"], Tuned.Classify(Inputs(new { }), true, 99).Reasons);
    }

    [Fact]
    public void Pricing_catalogue_wins_over_the_flat_rate_and_unknown_models_fall_back()
    {
        var catalogue = Tuned.Resolve(Request(effort: "high", provider: "OpenAI", requestedModel: "GPT-4o"));
        Assert.Equal((0.025, "official_docs_snapshot", "https://openai.com/api/pricing/"),
            (catalogue.EstimatedCost!.Value, catalogue.EstimatedCostSource, catalogue.EstimatedCostSourceUrl)); // 2000 tokens × (2.5 + 10) / 1e6

        var unknown = Tuned.Resolve(Request(effort: "high", provider: "openai", requestedModel: "unknown-model"));
        Assert.Equal((0.004, "legacy_flat_rate", null), (unknown.EstimatedCost!.Value, unknown.EstimatedCostSource, unknown.EstimatedCostSourceUrl));

        var noRate = RouterFactory.Create("reference-defaults").Resolve(Request(effort: "high"));
        Assert.Equal((null, null), (noRate.EstimatedCost, noRate.EstimatedCostStatus));
    }

    [Fact]
    public void Operator_pricing_overrides_come_first()
    {
        var router = RouterFactory.Create("reference-defaults",
            ("Routing:PricingOverrides:0:Provider", "openai"), ("Routing:PricingOverrides:0:Model", "gpt-4o"),
            ("Routing:PricingOverrides:0:InputCostPerMillion", "1"), ("Routing:PricingOverrides:0:OutputCostPerMillion", "1"),
            ("Routing:PricingOverrides:0:FetchedAt", "2026-11-01T00:00:00Z"));
        var decision = router.Resolve(Request(effort: "low", provider: "openai", requestedModel: "gpt-4o"));
        Assert.Equal((0.002, "user_override", "2026-11-01T00:00:00+00:00"), (decision.EstimatedCost!.Value, decision.EstimatedCostSource, decision.EstimatedCostFetchedAt));
    }

    [Theory]
    [InlineData(0.0000125, 6, 0.000013)]   // binary value lies just above the tie
    [InlineData(0.0000025, 6, 0.000003)]
    [InlineData(2.675, 2, 2.67)]           // the classic: 2.675 is stored below the tie
    [InlineData(0.5, 0, 0.0)]
    [InlineData(1.5, 0, 2.0)]
    public void Rounding_follows_python(double value, int digits, double expected) =>
        Assert.Equal(expected, PythonRound.Round(value, digits));
}
