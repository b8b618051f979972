using System.Globalization;
using System.Text.Json;
using Agent33.Deploy;
using Agent33.Testing;
using k8s;

namespace Agent33.Deploy.Tests;

/// <summary>
/// Every generated alert rule, as committed in deploy/k8s/prometheus-rules.yaml, run by Prometheus' own
/// rule evaluator (<c>promtool test rules</c>) against input series written here: when it fires, with which
/// labels, and when it stays quiet. Inputs are built from the configured thresholds, so a tuned setting is
/// tested as it ships. One sample per minute; series labels are what a Kubernetes scrape adds (<c>instance</c>).
/// </summary>
public sealed class AlertRuleTests
{
    private static readonly string Root = AppHostManifest.FindRepositoryRoot(AppContext.BaseDirectory);
    private static readonly AlertThresholds Thresholds = AlertThresholds.FromRepository(Root, TimeSpan.FromDays(1)); // the manifests' schedule

    /// <summary>One scenario: input series, the time it is evaluated at, and the alerts expected then (none: quiet).</summary>
    public sealed record Case(string Description, Series[] Input, int EvalMinute, params Dictionary<string, string>[] Expected)
    {
        public bool Fires => Expected.Length > 0;
    }

    /// <summary>A series and its value at each minute from 0; null is a missing sample (the series does not exist yet).</summary>
    public sealed record Series(string Selector, double?[] Values);

    private static PrometheusRule Committed()
    {
        var yaml = File.ReadAllText(Path.Combine(Root, "deploy", "k8s", "prometheus-rules.yaml"));
        return KubernetesYaml.LoadAllFromString(yaml, new Dictionary<string, Type>
        {
            [$"{PrometheusRule.ApiGroupVersion}/{nameof(PrometheusRule)}"] = typeof(PrometheusRule),
        }).OfType<PrometheusRule>().Single();
    }

    private static Dictionary<string, PrometheusAlert> CommittedRules() =>
        Committed().Spec.Groups.SelectMany(g => g.Rules).ToDictionary(r => r.Alert);

    public static TheoryData<string> RuleNames() => [.. CommittedRules().Keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void Every_rule_has_cases_that_fire_and_cases_that_stay_quiet()
    {
        var cases = Cases();
        Assert.Equal(CommittedRules().Keys.Order(StringComparer.Ordinal), cases.Keys.Order(StringComparer.Ordinal));
        Assert.All(cases, rule =>
        {
            Assert.Contains(rule.Value, c => c.Fires);
            Assert.Contains(rule.Value, c => !c.Fires);
        });
    }

    [Fact]
    public void Every_rule_is_documented_with_its_owner_in_the_runbook()
    {
        var runbook = File.ReadAllText(Path.Combine(Root, "docs", "operators", "alerts.md"));
        Assert.All(CommittedRules().Values, rule =>
        {
            Assert.Equal($"{AlertRules.Runbook}#{rule.Alert}", rule.Annotations["runbook"]);
            Assert.Contains($"\n### `{rule.Alert}`\n", runbook);
            var row = runbook.Split('\n').Single(l => l.StartsWith($"| [`{rule.Alert}`]", StringComparison.Ordinal));
            Assert.Contains($"| {rule.Annotations["owner"]} |", row);
            Assert.Contains($"| {rule.Labels["severity"]} |", row);
        });
    }

    [PromtoolFact]
    public async Task The_committed_rules_pass_promtool_check_rules()
    {
        using var dir = new TempDir();
        var rules = dir.Write("rules.yaml", JsonSerializer.Serialize(Committed().Spec));
        var (exitCode, output) = await Promtool.RunAsync(["check", "rules", rules]);
        Assert.True(exitCode == 0, output);
        Assert.Contains($"SUCCESS: {CommittedRules().Count} rules found", output);
    }

    [PromtoolTheory]
    [MemberData(nameof(RuleNames))]
    public async Task Rule_fires_when_it_should_and_stays_quiet_otherwise(string alert)
    {
        var rule = CommittedRules()[alert];
        var cases = Cases()[alert];
        using var dir = new TempDir();
        dir.Write("rules.yaml", JsonSerializer.Serialize(new PrometheusRuleSpec
        {
            Groups = [.. Committed().Spec.Groups.Select(g => new PrometheusRuleGroup { Name = g.Name, Rules = [.. g.Rules.Where(r => r.Alert == alert)] }).Where(g => g.Rules.Count > 0)],
        }));
        var tests = new
        {
            rule_files = new[] { "rules.yaml" },
            evaluation_interval = "1m",
            tests = cases.Select(c => new
            {
                name = c.Description,
                interval = "1m",
                input_series = c.Input.Select(s => new { series = s.Selector, values = string.Join(' ', s.Values.Select(Token)) }),
                alert_rule_test = new[]
                {
                    new
                    {
                        eval_time = $"{c.EvalMinute}m",
                        alertname = alert,
                        exp_alerts = c.Expected.Select(labels => new
                        {
                            exp_labels = new Dictionary<string, string>(rule.Labels).Concat(labels).ToDictionary(),
                            exp_annotations = rule.Annotations,
                        }),
                    },
                },
            }),
        };
        var file = dir.Write("tests.yaml", JsonSerializer.Serialize(tests)); // JSON is YAML
        var (exitCode, output) = await Promtool.RunAsync(["test", "rules", file], workingDirectory: dir.Path);
        Assert.True(exitCode == 0, $"promtool test rules for {alert} exited {exitCode}:\n{output}\n\nexpr: {rule.Expr}");
    }

    private static string Token(double? value) => value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "_";

    /// <summary>Each rule's scenarios, from the configured thresholds.</summary>
    public static Dictionary<string, Case[]> Cases()
    {
        var routing = Thresholds.Routing;
        var gateway = Thresholds.Gateway;
        var learning = Thresholds.Learning;
        const string Routing1 = "instance=\"routing-1\"";
        const string Gateway1 = "instance=\"gateway-1\"";
        const string Learning1 = "instance=\"learning-1\"";
        Dictionary<string, string> Labels(params (string Key, string Value)[] labels) => labels.ToDictionary(l => l.Key, l => l.Value);
        var none = Labels();

        // High-effort decisions: a count per minute, cumulative.
        var volume = (int)Math.Floor(routing.HighEffortCount) + 1; // the smallest count above the threshold
        var quietVolume = Math.Max(0, (int)Math.Ceiling(routing.HighEffortCount) - 5);

        // Gateway: 100 calls a minute (at least enough for the ratio's minimum), a share of them failing.
        var callsPerMinute = Math.Max(100, Math.Ceiling(gateway.ErrorRatioMinCalls));
        var failingShare = (1 + gateway.ErrorRatio) / 2;
        var fewCallsPerMinute = Math.Floor((gateway.ErrorRatioMinCalls - 1) / 5 / 2); // both outcomes together stay under the minimum

        var denials = (int)Math.Floor(gateway.GovernanceDenials) + 1;
        var unavailable = (int)Math.Floor(learning.DatabaseUnavailableAnswers) + 1;
        var corruption = (int)Math.Floor(learning.CorruptionEvents) + 1;
        var maxAge = learning.BackupMaxAgeHours * 3600;

        return new()
        {
            ["high_effort_routing_volume"] =
            [
                new("more than the threshold in an hour, from a replica that started within it",
                    [new($"effort_routing_high_effort_total{{{Routing1}}}", Ramp(0, 1, volume + 1, total: 40))], EvalMinute: volume + 1, none),
                new("more than the threshold in the last hour of a long-running replica",
                    [new($"effort_routing_high_effort_total{{{Routing1}}}", [.. Const(500, 90), .. Ramp(500, 1, volume + 1, total: 60)])], EvalMinute: 90 + volume + 1, none),
                new("fewer than the threshold in an hour",
                    [new($"effort_routing_high_effort_total{{{Routing1}}}", Ramp(0, 1, quietVolume, total: 60))], EvalMinute: 59),
                new("more than the threshold, but over an hour ago",
                    [new($"effort_routing_high_effort_total{{{Routing1}}}", Ramp(0, 1, volume + 1, total: 150))], EvalMinute: volume + 65),
            ],
            ["high_effort_cost_spike"] = SpikeCases("effort_routing_estimated_cost_usd", routing.HighCostUsd),
            ["high_effort_token_budget_spike"] = SpikeCases("effort_routing_estimated_token_budget", routing.HighTokenBudget),

            ["connector_circuit_open"] = CircuitCases((int)gateway.CircuitOpenMinutes),
            ["connector_error_ratio"] =
            [
                new("a share of failures and timeouts above the threshold for longer than the rule waits",
                    ErrorSeries(callsPerMinute, failingShare), EvalMinute: 15, Labels(("connector", "llm:x"))),
                new("client errors are the caller's, not the connector's",
                    [.. Calls("success", callsPerMinute / 2), .. Calls("client_error", callsPerMinute / 2)], EvalMinute: 15),
                new("a share below the threshold",
                    ErrorSeries(callsPerMinute, gateway.ErrorRatio / 2), EvalMinute: 15),
                new("a high share of too few calls",
                    [.. Calls("success", fewCallsPerMinute), .. Calls("failure", fewCallsPerMinute)], EvalMinute: 15),
                new("a high share that has not lasted as long as the rule waits",
                    ErrorSeries(callsPerMinute, failingShare), EvalMinute: 4),
            ],
            ["connector_latency_p99"] =
            [
                new("calls slower than the threshold", LatencySeries(SlowerThan(gateway.P99LatencySeconds)), EvalMinute: 15, Labels(("connector", "llm:x"))),
                new("calls in the first bucket (1 ms)", LatencySeries(0.001), EvalMinute: 15),
                new("slow calls that have not lasted as long as the rule waits", LatencySeries(SlowerThan(gateway.P99LatencySeconds)), EvalMinute: 4),
            ],
            ["connector_governance_denial_spike"] =
            [
                new("a burst of denials", [Denials(Step(0, denials, at: 6, total: 20))], EvalMinute: 7, Labels(("connector", "mcp:x"))),
                new("the first denials of an operation the gateway had not counted yet",
                    [Denials([.. Missing(6), .. Const(denials, 14)])], EvalMinute: 7, Labels(("connector", "mcp:x"))),
                new("a few denials", [Denials(Step(0, (int)Math.Floor(gateway.GovernanceDenials / 2), at: 6, total: 20))], EvalMinute: 7),
                new("a burst that left the window", [Denials(Step(0, denials, at: 6, total: 20))], EvalMinute: 12),
            ],

            ["learning_database_unavailable"] =
            [
                new("an outage answered many requests with 503",
                    [new($"learning_database_unavailable_total{{{Learning1}}}", Step(0, unavailable, at: 6, total: 20))], EvalMinute: 7, none),
                new("a replica that started during the outage",
                    [new($"learning_database_unavailable_total{{{Learning1}}}", [.. Missing(6), .. Const(unavailable, 14)])], EvalMinute: 7, none),
                new("a blip: a few answers",
                    [new($"learning_database_unavailable_total{{{Learning1}}}", Step(0, (int)Math.Floor(learning.DatabaseUnavailableAnswers / 2), at: 6, total: 20))], EvalMinute: 7),
                new("an outage that ended more than the window ago",
                    [new($"learning_database_unavailable_total{{{Learning1}}}", Step(0, unavailable, at: 6, total: 20))], EvalMinute: 12),
            ],
            ["learning_corruption_events"] =
            [
                new("the first corruption of its kind since the service started (a new series)",
                    [new($"learning_corruption_events_total{{kind=\"signal\",{Learning1}}}", [.. Missing(3), .. Const(corruption, 80)])], EvalMinute: 4, Labels(("kind", "signal"))),
                new("another corruption of a kind counted before",
                    [new($"learning_corruption_events_total{{kind=\"payload\",{Learning1}}}", Step(1, 1 + corruption, at: 70, total: 80))], EvalMinute: 72, Labels(("kind", "payload"))),
                new("a corruption more than an hour ago",
                    [new($"learning_corruption_events_total{{kind=\"signal\",{Learning1}}}", [.. Missing(3), .. Const(corruption, 80)])], EvalMinute: 65),
                new("no new corruption",
                    [new($"learning_corruption_events_total{{kind=\"signal\",{Learning1}}}", Const(3, 80))], EvalMinute: 70),
            ],
            ["learning_backup_failed"] =
            [
                new("a scheduled run failed", [new($"learning_backup_failures_total{{{Learning1}}}", Step(0, 1, at: 6, total: 80))], EvalMinute: 10, none),
                new("no run failed", [new($"learning_backup_failures_total{{{Learning1}}}", Const(0, 80))], EvalMinute: 30),
                new("the failure was more than an hour ago", [new($"learning_backup_failures_total{{{Learning1}}}", Step(0, 1, at: 6, total: 80))], EvalMinute: 67),
            ],
            ["learning_backup_stale"] =
            [
                new("the newest backup is older than the limit",
                    [new($"learning_backup_age_seconds{{{Learning1}}}", Ramp(maxAge - 120, 60, 10, total: 10))], EvalMinute: 3, none),
                new("the newest backup is younger than the limit",
                    [new($"learning_backup_age_seconds{{{Learning1}}}", Ramp(maxAge - 600, 60, 10, total: 10))], EvalMinute: 5),
                new("one replica has not seen the newest backup yet, another has",
                    [
                        new($"learning_backup_age_seconds{{{Learning1}}}", Ramp(maxAge + 600, 60, 10, total: 10)),
                        new("learning_backup_age_seconds{instance=\"learning-2\"}", Ramp(60, 60, 10, total: 10)),
                    ], EvalMinute: 5),
            ],
        };

        Series[] ErrorSeries(double perMinute, double failingShare) =>
        [
            .. Calls("success", perMinute * (1 - failingShare)),
            .. Calls("failure", perMinute * failingShare / 2),
            .. Calls("timeout", perMinute * failingShare / 2),
        ];

        Series[] Calls(string outcome, double perMinute) =>
            [new($"connector_calls_total{{connector=\"llm:x\",operation=\"GET\",outcome=\"{outcome}\",{Gateway1}}}", Ramp(0, perMinute, 30, total: 30))];

        Series Denials(double?[] values) =>
            new($"connector_governance_denials_total{{connector=\"mcp:x\",operation=\"tools/call\",{Gateway1}}}", values);
    }

    /// <summary>
    /// One decision above the threshold among cheap ones (one a minute), a replica whose first decision is above it,
    /// only cheap ones — each with the bucket bound spelled as the exporter's Prometheus text writes it (<c>8000</c>)
    /// and as OpenMetrics and Prometheus 3 store it (<c>8000.0</c>): the rule must hold for both.
    /// </summary>
    private static Case[] SpikeCases(string histogram, double threshold)
    {
        var number = AlertRules.Number(threshold);
        string[] spellings = number.Contains('.', StringComparison.Ordinal) ? [number] : [number, number + ".0"];
        return [.. spellings.SelectMany(le => SpikeCases(histogram, le))];
    }

    private static Case[] SpikeCases(string histogram, string le)
    {
        Series[] Histogram(double?[] count, double?[] atOrBelow) =>
        [
            new($"{histogram}_count{{instance=\"routing-1\"}}", count),
            new($"{histogram}_bucket{{instance=\"routing-1\",le=\"{le}\"}}", atOrBelow),
            new($"{histogram}_bucket{{instance=\"routing-1\",le=\"+Inf\"}}", count),
        ];
        // Cheap decisions, one a minute; between minutes 5 and 6, one more above the threshold.
        double?[] withSpike = [.. Enumerable.Range(0, 40).Select(m => (double?)(m + (m >= 6 ? 1 : 0)))];
        double?[] cheap = [.. Enumerable.Range(0, 40).Select(m => (double?)m)];
        var none = new Dictionary<string, string>();
        return
        [
            new($"one decision above the threshold fires at once (not pending until it has left the window) (le=\"{le}\")", Histogram(withSpike, cheap), EvalMinute: 6, none),
            new($"one decision above the threshold is still visible 9 minutes later (le=\"{le}\")", Histogram(withSpike, cheap), EvalMinute: 15, none),
            new($"a replica whose first decision is above the threshold (a new series) (le=\"{le}\")", Histogram(Const(1, 20), Const(0, 20)), EvalMinute: 3, none),
            new($"the decision above the threshold has left the window (le=\"{le}\")", Histogram(withSpike, cheap), EvalMinute: 17),
            new($"only decisions at or below the threshold (le=\"{le}\")", Histogram(cheap, cheap), EvalMinute: 15),
        ];
    }

    /// <summary>0 closed, 1 open, 2 half-open.</summary>
    private static Case[] CircuitCases(int minutes)
    {
        Series State(params double?[] values) => new("connector_circuit_state{connector=\"llm:x\",instance=\"gateway-1\"}", values);
        var labels = new Dictionary<string, string> { ["connector"] = "llm:x", ["instance"] = "gateway-1" };
        double?[] openFrom2 = [0, 0, .. Const(1, minutes + 10)];
        double?[] probing = [0, 0, .. Const(1, 2), 2, .. Const(1, minutes + 10)];   // a failed probe at minute 4
        double?[] reclosed = [0, 0, .. Const(1, 2), 0, .. Const(1, minutes + 10)];  // closed again at minute 4, re-opened at 5
        return
        [
            new($"open for {minutes} minutes", [State(openFrom2)], EvalMinute: 2 + minutes + 1, labels),
            new("open, with a failed half-open probe in between", [State(probing)], EvalMinute: 2 + minutes + 2, labels),
            new($"open for less than {minutes} minutes", [State(openFrom2)], EvalMinute: 2 + minutes - 1),
            new("closed in between", [State(reclosed)], EvalMinute: 4 + minutes - 1),
            new($"open since a gateway started less than {minutes} minutes ago", [State([.. Missing(3), .. Const(1, minutes + 10)])], EvalMinute: 3 + minutes - 1),
        ];
    }

    /// <summary>Calls of the given duration, 10 a minute, in the gateway's buckets (seconds, 1 ms to 60 s).</summary>
    private static Series[] LatencySeries(double seconds)
    {
        double[] bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, double.PositiveInfinity];
        return
        [
            .. bounds.Select(bound => new Series(
                $"connector_call_duration_seconds_bucket{{connector=\"llm:x\",operation=\"GET\",instance=\"gateway-1\",le=\"{(double.IsPositiveInfinity(bound) ? "+Inf" : AlertRules.Number(bound))}\"}}",
                bound >= seconds ? Ramp(0, 10, 30, total: 30) : Const(0, 31))),
        ];
    }

    /// <summary>A duration in the bucket above the threshold's (where p99 lands above the threshold).</summary>
    private static double SlowerThan(double threshold) =>
        new[] { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 }.First(b => b > threshold);

    private static double?[] Const(double value, int count) => [.. Enumerable.Repeat<double?>(value, count)];

    private static double?[] Missing(int count) => [.. Enumerable.Repeat<double?>(null, count)];

    /// <summary>From <paramref name="start"/>, up by <paramref name="step"/> a minute for <paramref name="steps"/> minutes, then flat; <paramref name="total"/> minutes in all.</summary>
    private static double?[] Ramp(double start, double step, int steps, int total) =>
        [.. Enumerable.Range(0, total + 1).Select(m => (double?)(start + step * Math.Min(m, steps)))];

    /// <summary><paramref name="before"/> until minute <paramref name="at"/>, then <paramref name="after"/>.</summary>
    private static double?[] Step(double before, double after, int at, int total) =>
        [.. Enumerable.Range(0, total + 1).Select(m => (double?)(m < at ? before : after))];

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("agent33-alerts-").FullName;

        public string Write(string name, string text)
        {
            var file = System.IO.Path.Combine(Path, name);
            File.WriteAllText(file, text);
            return file;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
