using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Routing.Effort;
using Agent33.ServiceDefaults.Compatibility;
using Agent33.Testing;

namespace Agent33.Routing.Tests;

/// <summary>Every decision the reference router recorded must come out the same here, field for field.</summary>
public sealed class ParityCorpusTests
{
    private static readonly JsonSerializerOptions Json = Microsoft.Extensions.Hosting.ServiceDefaultsExtensions.ConfigureJson(new JsonSerializerOptions());

    public static TheoryData<int> CorpusLines() => [.. Enumerable.Range(0, File.ReadLines(ReferenceFixtures.PathOf("routing-parity.jsonl")).Count())];

    public static TheoryData<int> PricingLines() => [.. Enumerable.Range(0, File.ReadLines(ReferenceFixtures.PathOf("routing-pricing.jsonl")).Count())];

    [Theory]
    [MemberData(nameof(CorpusLines))]
    public void Parity_corpus_line_matches_the_reference(int line)
    {
        using var entry = JsonDocument.Parse(File.ReadLines(ReferenceFixtures.PathOf("routing-parity.jsonl")).ElementAt(line));
        var router = RouterFactory.Create(entry.RootElement.GetProperty("config").GetString()!);
        AssertDecision(router, entry.RootElement);
    }

    /// <summary>The pricing cases run on a router with gpt-4.1-nano / -mini / gpt-4.1 and a 0.002 flat rate.</summary>
    [Theory]
    [MemberData(nameof(PricingLines))]
    public void Pricing_case_matches_the_reference(int line)
    {
        using var entry = JsonDocument.Parse(File.ReadLines(ReferenceFixtures.PathOf("routing-pricing.jsonl")).ElementAt(line));
        var router = RouterFactory.Create("reference-defaults",
            ("Routing:Models:Low", "gpt-4.1-nano"), ("Routing:Models:Medium", "gpt-4.1-mini"), ("Routing:Models:High", "gpt-4.1"),
            ("Routing:CostPer1kTokens", "0.002"));
        AssertDecision(router, entry.RootElement);
    }

    [Theory]
    [InlineData("router-profiles.json", "router-configs.json")]
    [InlineData("pricing.json", "pricing.json")]
    public void The_shipped_profiles_and_pricing_are_the_references(string resource, string fixture)
    {
        using var stream = typeof(EffortRouter).Assembly.GetManifestResourceStream(resource)!;
        using var shipped = JsonDocument.Parse(stream);
        using var reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.PathOf(fixture)));
        Assert.True(JsonElement.DeepEquals(reference.RootElement, shipped.RootElement), $"{resource} differs from the reference's {fixture}");
    }

    private static void AssertDecision(EffortRouter router, JsonElement entry)
    {
        var request = entry.GetProperty("request").Deserialize<DecisionRequest>(Json)!;
        var actual = JsonSerializer.SerializeToElement(router.Resolve(request), Json);

        foreach (var expected in entry.GetProperty("expected").EnumerateObject())
        {
            var value = actual.GetProperty(expected.Name);
            if (expected.Value.ValueKind == JsonValueKind.Number)
            {
                Assert.True(Math.Abs(expected.Value.GetDouble() - value.GetDouble()) <= 1e-9,
                    $"{expected.Name}: expected {expected.Value}, got {value}");
            }
            else
            {
                Assert.True(JsonElement.DeepEquals(expected.Value, value), $"{expected.Name}: expected {expected.Value}, got {value}");
            }
        }
    }
}
