using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Agent33.Deploy;
using Agent33.Deploy.Dashboards;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;

namespace Agent33.Deploy.Tests;

/// <summary>
/// The operators' view against a real Prometheus: the three services run as processes (as deployed), a real
/// Prometheus scrapes them with its default scrape protocols every second and evaluates the generated rules — with
/// thresholds and windows chosen so each can fire within seconds — and traffic that should trigger every rule is
/// sent. Every alert must reach <c>firing</c> (<c>/api/v1/alerts</c>), no rule may fail to evaluate
/// (<c>/api/v1/rules</c>), and every dashboard panel's query must return data. The hand-written promtool scenarios
/// (AlertRuleTests) test the rules' edges; this tests that they meet the series the services really export.
/// </summary>
[Trait("Category", "Prometheus")]
public sealed partial class RealPrometheusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>Thresholds a few events cross; the spike thresholds stay the shipped ones (5 USD, 8000 tokens), whose bucket spelling is the point.</summary>
    public static readonly AlertThresholds Thresholds = new(
        new RoutingAlertSettings(HighEffortCount: 2, HighCostUsd: 5.0, HighTokenBudget: 8000),
        new GatewayAlertSettings(CircuitOpenMinutes: 3.0 / 60, ErrorRatio: 0.2, ErrorRatioMinCalls: 3, P99LatencySeconds: 0.1, GovernanceDenials: 2),
        new LearningAlertSettings(DatabaseUnavailableAnswers: 2, CorruptionEvents: 0, BackupMaxAgeHours: 8.0 / 3600));

    /// <summary>Windows of seconds: a 30 s rate window (thirty scrapes), a 2 s wait for the sustained rules.</summary>
    public static readonly AlertTiming Timing = new(Volume: "1h", Spike: "10m", Rate: "30s", Corruption: "1h", BackupFailure: "1h", SustainedFor: "2s");

    [PrometheusFact]
    public async Task Every_alert_fires_against_the_real_services_and_every_dashboard_panel_has_data()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var system = await RunningSystem.StartAsync();
        output.WriteLine($"services up after {clock.Elapsed.TotalSeconds:F1} s");

        // On a fresh start, before any traffic: every counter and gauge a rule reads exists (at zero).
        foreach (var (metric, owner) in MetricsRulesRead())
        {
            if (!metric.IsHistogram)
            {
                Assert.True(Regex.IsMatch(system.FreshScrapes[owner], $"(?m)^{metric.Name}(\\{{| )"),
                    $"{metric.Name} (read by a rule) is not on a fresh {owner}'s /metrics");
            }
        }

        var rules = AlertRules.Build(Thresholds, Timing);
        using var prometheus = await PrometheusServer.StartAsync(system.ScrapeTargets, JsonSerializer.Serialize(rules.Spec), Interval);
        await Eventually.WaitUntilAsync(async () => (await prometheus.QueryAsync("up == 1")).GetArrayLength() == 3, "Prometheus to scrape all three services", seconds: 20);

        await system.SendTrafficThatTriggersEveryRuleAsync(series => Eventually.WaitUntilAsync(
            async () => (await prometheus.QueryAsync(series)).GetArrayLength() > 0, $"Prometheus to scrape {series}", seconds: 20));
        output.WriteLine($"traffic sent after {clock.Elapsed.TotalSeconds:F1} s");

        var expected = rules.Spec.Groups.SelectMany(g => g.Rules).Select(r => r.Alert).ToHashSet();
        var firing = new HashSet<string>();
        try
        {
            await Eventually.WaitUntilAsync(async () =>
            {
                var alerts = (await prometheus.ApiAsync("/api/v1/alerts")).GetProperty("alerts");
                // Ever seen firing: an event's alert resolves once its event leaves the window, so they need not all fire at once.
                firing.UnionWith(alerts.EnumerateArray().Where(a => a.GetProperty("state").GetString() == "firing").Select(a => a.GetProperty("labels").GetProperty("alertname").GetString()!));
                return expected.IsSubsetOf(firing);
            }, "every alert to fire", seconds: 60);
        }
        catch (Exception)
        {
            output.WriteLine($"firing: {string.Join(", ", firing.Order())}\nnot firing: {string.Join(", ", expected.Except(firing).Order())}");
            foreach (var query in new[] { "up", "scrape_duration_seconds", "connector_governance_denials_total", "learning_corruption_events_total", "learning_database_unavailable_total", "connector_calls_total{connector=\"tool:slow\"}" })
            {
                output.WriteLine($"{query}: {await prometheus.QueryAsync(query)}");
            }
            output.WriteLine(prometheus.Output);
            throw;
        }
        output.WriteLine($"all {expected.Count} alerts firing after {clock.Elapsed.TotalSeconds:F1} s");

        // No rule failed to evaluate.
        var evaluated = (await prometheus.ApiAsync("/api/v1/rules")).GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToList();
        Assert.Equal(expected.Count, evaluated.Count);
        Assert.All(evaluated, rule => Assert.True(
            rule.GetProperty("health").GetString() == "ok" && (!rule.TryGetProperty("lastError", out var error) || error.GetString() is null or ""),
            $"{rule.GetProperty("name")}: {rule}"));

        // Every panel of every dashboard (as generated with the shipped thresholds) answers with data.
        var empty = new List<string>();
        foreach (var dashboard in Dashboards.Dashboards.Build(AlertThresholds.Defaults))
        {
            foreach (var panel in dashboard.Panels.Where(p => p.Targets is not null))
            {
                foreach (var target in panel.Targets!)
                {
                    var query = target.Expr.Replace(Dashboards.Dashboards.RateInterval, "30s", StringComparison.Ordinal).Replace(Dashboards.Dashboards.Range, "5m", StringComparison.Ordinal);
                    if ((await prometheus.QueryAsync(query)).GetArrayLength() == 0)
                    {
                        empty.Add($"{dashboard.Title} / {panel.Title} / {target.RefId}: {query}");
                    }
                }
            }
        }
        Assert.True(empty.Count == 0, $"panels without data:\n{string.Join('\n', empty)}");
        output.WriteLine($"done after {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>A metric a rule reads, by the name its series carry; histograms by their base name.</summary>
    public sealed record RuleMetric(string Name, bool IsHistogram);

    /// <summary>Every metric name in the shipped rules' expressions, with the service that exports it (by prefix).</summary>
    public static IReadOnlyList<(RuleMetric Metric, string Owner)> MetricsRulesRead()
    {
        var expressions = AlertRules.Build(AlertThresholds.Defaults).Spec.Groups.SelectMany(g => g.Rules).Select(r => r.Expr);
        return [.. expressions.SelectMany(e => MetricName().Matches(e).Select(m => m.Value))
            .Select(name => name.EndsWith("_bucket", StringComparison.Ordinal) || name.EndsWith("_count", StringComparison.Ordinal)
                ? new RuleMetric(name[..name.LastIndexOf('_')], IsHistogram: true)
                : new RuleMetric(name, IsHistogram: false))
            .Distinct()
            .Select(metric => (metric, metric.Name switch
            {
                var n when n.StartsWith("effort_routing_", StringComparison.Ordinal) => "routing",
                var n when n.StartsWith("connector_", StringComparison.Ordinal) => "gateway",
                var n when n.StartsWith("learning_", StringComparison.Ordinal) => "learning",
                var n => throw new InvalidOperationException($"no owner for {n}"),
            }))];
    }

    [Fact]
    public void The_rules_read_these_metrics()
    {
        // A rule reading a new metric must be added to the services' start-up series (or be a histogram): see the fresh-start check above.
        Assert.Equal(
            [
                "connector_call_duration_seconds (histogram)", "connector_calls_total", "connector_circuit_state", "connector_governance_denials_total",
                "effort_routing_estimated_cost_usd (histogram)", "effort_routing_estimated_token_budget (histogram)", "effort_routing_high_effort_total",
                "learning_backup_age_seconds", "learning_backup_failures_total", "learning_corruption_events_total", "learning_database_unavailable_total",
            ],
            MetricsRulesRead().Select(m => m.Metric.IsHistogram ? $"{m.Metric.Name} (histogram)" : m.Metric.Name).Order(StringComparer.Ordinal));
    }

    [GeneratedRegex(@"\b(effort_routing|connector|learning)_[a-z_]+\b")]
    private static partial Regex MetricName();
}
