using System.Text.Json;
using Agent33.Contracts;
using Agent33.Contracts.Learning;
using Agent33.Contracts.Routing;
using Microsoft.Extensions.Hosting;

namespace Agent33.ServiceDefaults.Tests;

/// <summary>
/// The messages between services carry the contract's field names (CONTRACT.md), whatever the serializer's naming
/// policy: renaming a property of a record fails here, not in a running system. The lists are copied from the contract.
/// </summary>
public sealed class ContractWireNamesTests
{
    // "POST /signals — body signal_type (or type), severity, summary, details, source, context, tenant_id."
    private static readonly string[] SignalFields = ["signal_type", "type", "severity", "summary", "details", "source", "context", "tenant_id"];

    // "POST /v1/routing/decisions — body {requested_model, default_model, max_tokens, effort, tenant_id, domain, inputs, iterative, max_iterations, provider}"
    private static readonly string[] DecisionRequestFields =
        ["requested_model", "default_model", "max_tokens", "effort", "tenant_id", "domain", "inputs", "iterative", "max_iterations", "provider"];

    // "→ the decision {effort, effort_source, model, max_tokens, …, heuristic_reasons []}", plus is_high_effort, on the wire since the first release.
    private static readonly string[] DecisionFields =
    [
        "effort", "effort_source", "model", "max_tokens", "token_multiplier", "estimated_token_budget", "estimated_cost",
        "estimated_cost_status", "estimated_cost_source", "estimated_cost_source_url", "estimated_cost_fetched_at", "tenant_id",
        "domain", "policy_key", "heuristic_confidence", "heuristic_score", "heuristic_low_threshold", "heuristic_high_threshold",
        "heuristic_reasons", "is_high_effort",
    ];

    // The usage report the gateway posts after each LLM call, and the routing service's priced answer.
    private static readonly string[] UsageReportFields =
        ["tenant_id", "model", "provider", "prompt_tokens", "completion_tokens", "effort", "estimated_token_budget", "estimated_cost"];

    private static readonly string[] PricedUsageFields = ["model", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cost_status", "cost_source"];

    public static TheoryData<string, object, string[]> Messages() => new()
    {
        { "signal", new SignalRequest("incident", "incident", "high", "s", "d", "gateway", new() { ["k"] = "v" }, "t"), SignalFields },
        { "decision request", new DecisionRequest("m", "d", 100, "low", "t", "x", JsonDocument.Parse("{}").RootElement, true, 3, "p"), DecisionRequestFields },
        { "decision", new EffortDecision("high", "request", "m", 100, 1.5, 150, 0.1, "catalogue", "s", "u", "f", "t", "x", "k", 0.9, 5, 2, 6, ["r"]), DecisionFields },
        { "usage report", new UsageReport("t", "m", "p", 1, 2, "low", 3, 0.5), UsageReportFields },
        { "priced usage", new PricedUsage("m", 1, 2, 3, 0.5, "catalogue", "s"), PricedUsageFields },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_serializes_with_the_contracts_field_names(string message, object record, string[] fields)
    {
        // The services' own options (snake_case) and a client's plain web defaults (camelCase) write the same names.
        foreach (var options in new[] { ServiceDefaultsExtensions.ConfigureJson(new JsonSerializerOptions(JsonSerializerDefaults.Web)), JsonSerializerOptions.Web })
        {
            using var json = JsonDocument.Parse(JsonSerializer.Serialize(record, record.GetType(), options));
            Assert.True(fields.Order(StringComparer.Ordinal).SequenceEqual(json.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)),
                $"{message}: {string.Join(", ", json.RootElement.EnumerateObject().Select(p => p.Name))}");
        }
    }

    [Fact]
    public void Every_message_reads_back_from_the_contracts_field_names()
    {
        var signal = JsonSerializer.Deserialize<SignalRequest>(
            """{"signal_type": "bug", "type": "bug", "severity": "low", "summary": "s", "details": "d", "source": "x", "context": {"a": "b"}, "tenant_id": "t"}""",
            JsonSerializerOptions.Web)!;
        Assert.Equal(new SignalRequest("bug", "bug", "low", "s", "d", "x", signal.Context, "t"), signal);
        Assert.Equal("b", signal.Context!["a"]);
        var usage = JsonSerializer.Deserialize<UsageReport>(
            """{"tenant_id": "t", "model": "m", "provider": "p", "prompt_tokens": 1, "completion_tokens": 2, "effort": "low", "estimated_token_budget": 3, "estimated_cost": 0.5}""",
            JsonSerializerOptions.Web);
        Assert.Equal(new UsageReport("t", "m", "p", 1, 2, "low", 3, 0.5), usage);
    }

    [Fact]
    public void A_signal_leaves_out_the_alias_and_the_tenant_when_unset()
    {
        var json = JsonSerializer.Serialize(new SignalRequest("bug", null, "low", "s", "d", "x", [], null), JsonSerializerOptions.Web);
        Assert.Equal("""{"signal_type":"bug","severity":"low","summary":"s","details":"d","source":"x","context":{}}""", json);
    }

    [Fact]
    public void Names_paths_and_settings_are_the_contracts()
    {
        Assert.Equal(["gateway", "learning-service", "routing"], new[] { ServiceNames.Gateway, ServiceNames.Learning, ServiceNames.Routing });
        Assert.Equal(["/health", "/alive", "/metrics"], new[] { ServicePaths.Health, ServicePaths.Alive, ServicePaths.Metrics });
        Assert.Equal("ServiceApiKey", SharedSettings.ServiceApiKey);
        Assert.Equal("/v1/improvements/learning/signals", SignalRequest.Path);
        Assert.Equal("/v1/routing/decisions", DecisionRequest.Path);
        Assert.Equal("/v1/routing/usage", UsageReport.Path);
    }
}
