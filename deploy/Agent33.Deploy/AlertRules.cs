using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using k8s.Models;

namespace Agent33.Deploy;

/// <summary>
/// The system's alert rules as one <c>PrometheusRule</c>, a group per service, over the metric names each
/// service exports. Thresholds come from the services' settings (<see cref="AlertThresholds"/>); each rule is
/// documented, with its owner and review cadence, in docs/operators/alerts.md, and unit-tested with
/// <c>promtool test rules</c> in tests/Agent33.Deploy.Tests.
/// </summary>
public static class AlertRules
{
    public const string Name = "agent33-alerts";
    public const string Runbook = "docs/operators/alerts.md";

    /// <summary>How far back the "did it happen" rules look. An event stays visible this long, so a rule fires once and resolves by itself.</summary>
    public const string VolumeWindow = "1h";
    public const string SpikeWindow = "10m";
    public const string RateWindow = "5m";
    public const string CorruptionWindow = "1h";
    public const string BackupFailureWindow = "1h";

    /// <summary>A sustained condition (error ratio, latency) must hold this long before it fires.</summary>
    public const string SustainedFor = "5m";

    private const string PlatformTeam = "Platform team";

    public static PrometheusRule Build(AlertThresholds thresholds) => Build(thresholds, AlertTiming.Default);

    /// <summary>
    /// The rules with other windows: the real-Prometheus test (tests/Agent33.Deploy.Tests/RealPrometheusTests.cs)
    /// evaluates them over seconds instead of minutes; the manifests always use <see cref="AlertTiming.Default"/>.
    /// </summary>
    public static PrometheusRule Build(AlertThresholds thresholds, AlertTiming timing)
    {
        var routing = thresholds.Routing;
        var gateway = thresholds.Gateway;
        var learning = thresholds.Learning;
        var circuitWindow = Window(TimeSpan.FromMinutes(gateway.CircuitOpenMinutes));
        return new PrometheusRule
        {
            Metadata = new V1ObjectMeta { Name = Name, Labels = ManifestGenerator.SelectorLabels(ManifestGenerator.PartOf) },
            Spec = new PrometheusRuleSpec
            {
                Groups =
                [
                    Group("routing",
                        Alert("high_effort_routing_volume", "warning", PlatformTeam,
                            $"sum({Events("effort_routing_high_effort_total", timing.Volume)}) > {Number(routing.HighEffortCount)}",
                            $"More high-effort routing decisions in the last {timing.Volume} than Routing:Alerts:HighEffortCountThreshold ({Number(routing.HighEffortCount)})."),
                        Alert("high_effort_cost_spike", "warning", $"{PlatformTeam}; budget exceptions escalate to Engineering leadership",
                            $"{DecisionsAbove("effort_routing_estimated_cost_usd", routing.HighCostUsd, timing.Spike)} > 0",
                            $"A routing decision in the last {timing.Spike} had an estimated cost above Routing:Alerts:HighCostUsdThreshold ({Number(routing.HighCostUsd)} USD)."),
                        Alert("high_effort_token_budget_spike", "warning", PlatformTeam,
                            $"{DecisionsAbove("effort_routing_estimated_token_budget", routing.HighTokenBudget, timing.Spike)} > 0",
                            $"A routing decision in the last {timing.Spike} had a token budget above Routing:Alerts:HighTokenBudgetThreshold ({Number(routing.HighTokenBudget)}).")),
                    Group("gateway",
                        Alert("connector_circuit_open", "warning", PlatformTeam,
                            $"connector_circuit_state == 1 and min_over_time(connector_circuit_state[{circuitWindow}]) > 0 and connector_circuit_state offset {circuitWindow} > 0",
                            $"A connector's circuit has been open for {circuitWindow} (failed half-open probes included): Gateway:Alerts:CircuitOpenMinutes."),
                        Alert("connector_error_ratio", "warning", PlatformTeam,
                            $"sum by (connector) (rate(connector_calls_total{{outcome=~\"failure|timeout\"}}[{timing.Rate}])) / sum by (connector) (rate(connector_calls_total[{timing.Rate}])) > {Number(gateway.ErrorRatio)}"
                            + $" and sum by (connector) (increase(connector_calls_total[{timing.Rate}])) >= {Number(gateway.ErrorRatioMinCalls)}",
                            $"More than Gateway:Alerts:ErrorRatioThreshold ({Number(gateway.ErrorRatio)}) of a connector's calls failed or timed out over {timing.Rate} (at least {Number(gateway.ErrorRatioMinCalls)} calls).",
                            timing.SustainedFor),
                        Alert("connector_latency_p99", "warning", PlatformTeam,
                            $"histogram_quantile(0.99, sum by (connector, le) (rate(connector_call_duration_seconds_bucket[{timing.Rate}]))) > {Number(gateway.P99LatencySeconds)}",
                            $"A connector's p99 call latency over {timing.Rate} is above Gateway:Alerts:P99LatencySecondsThreshold ({Number(gateway.P99LatencySeconds)} s).",
                            timing.SustainedFor),
                        Alert("connector_governance_denial_spike", "warning", "Security team",
                            $"sum by (connector) ({Events("connector_governance_denials_total", timing.Rate)}) > {Number(gateway.GovernanceDenials)}",
                            $"More governance denials for a connector in {timing.Rate} than Gateway:Alerts:GovernanceDenialsThreshold ({Number(gateway.GovernanceDenials)}).")),
                    Group("learning",
                        Alert("learning_database_unavailable", "critical", PlatformTeam,
                            $"sum({Events("learning_database_unavailable_total", timing.Rate)}) > {Number(learning.DatabaseUnavailableAnswers)}",
                            $"The learning service answered 503 database_unavailable more than Learning:Alerts:DatabaseUnavailableThreshold ({Number(learning.DatabaseUnavailableAnswers)}) times in {timing.Rate}."),
                        Alert("learning_corruption_events", "warning", "Learning service owners",
                            $"sum by (kind) ({Events("learning_corruption_events_total", timing.Corruption)}) > {Number(learning.CorruptionEvents)}",
                            $"Corrupt records or payloads were quarantined or rejected in the last {timing.Corruption} (more than Learning:Alerts:CorruptionEventsThreshold, {Number(learning.CorruptionEvents)}); see GET /quarantine."),
                        Alert("learning_backup_failed", "warning", PlatformTeam,
                            $"sum({Events("learning_backup_failures_total", timing.BackupFailure)}) > 0",
                            $"A scheduled learning backup failed in the last {timing.BackupFailure} (Learning:Backups:Schedule)."),
                        Alert("learning_backup_stale", "critical", PlatformTeam,
                            $"min(learning_backup_age_seconds) > {Number(Math.Round(learning.BackupMaxAgeHours * 3600, 3))}",
                            $"The newest learning backup is older than Learning:Alerts:BackupMaxAgeHours ({Number(learning.BackupMaxAgeHours)} h).")),
                ],
            },
        };
    }

    /// <summary>
    /// How many times the counter <paramref name="selector"/> went up in the last <paramref name="window"/>, per
    /// series. A series that appeared within the window (a new pod, the first event of its kind) counts from zero:
    /// <c>increase()</c> alone would miss its first sample, and with it a first and only event.
    /// </summary>
    public static string Events(string selector, string window) =>
        $"(({selector} unless {selector} offset {window}) or increase({selector}[{window}]))";

    /// <summary>
    /// Decisions in the last <paramref name="window"/> whose value was above <paramref name="threshold"/>: all
    /// observations minus those in the bucket ending at the threshold (the routing service adds each alert
    /// threshold to its histogram's buckets, so the count is exact). What the routing service's own rule means
    /// by "max above the threshold", over every replica and a window instead of the process' lifetime.
    /// </summary>
    public static string DecisionsAbove(string histogram, double threshold, string window = SpikeWindow) =>
        $"sum({Events(histogram + "_count", window)}) - sum({Events($"{histogram}_bucket{{{BucketBound(threshold)}}}", window)})";

    /// <summary>
    /// A matcher for the bucket whose upper bound is <paramref name="bound"/>, whichever way the bound is spelled:
    /// the exporter's Prometheus text writes <c>le="8000"</c>, its OpenMetrics text (what Prometheus asks for first)
    /// may write <c>le="8000.0"</c>, and Prometheus 3 stores every <c>le</c> in that form. A matcher on one spelling
    /// matches nothing in a server that stored the other, and the rule can never fire.
    /// </summary>
    public static string BucketBound(double bound)
    {
        var text = Number(bound);
        var pattern = Regex.Escape(text).Replace("\\", "\\\\", StringComparison.Ordinal); // PromQL strings take escapes: \. is a regex \.
        return Math.Floor(bound) == bound && !text.Contains('E', StringComparison.OrdinalIgnoreCase)
            ? $"le=~\"{pattern}(\\\\.0)?\""
            : $"le=~\"{pattern}\"";
    }

    /// <summary>A PromQL duration: whole minutes as <c>5m</c>, anything shorter in seconds (the real-Prometheus test's windows).</summary>
    public static string Window(TimeSpan span) =>
        span.TotalMinutes == Math.Floor(span.TotalMinutes) && span >= TimeSpan.FromMinutes(1)
            ? $"{(long)span.TotalMinutes}m"
            : $"{Math.Max(1, (long)Math.Round(span.TotalSeconds))}s";

    /// <summary>Numbers as the Prometheus exporter writes them (bucket bounds, thresholds): invariant, shortest round-trip.</summary>
    public static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static PrometheusRuleGroup Group(string service, params PrometheusAlert[] rules)
    {
        foreach (var rule in rules)
        {
            rule.Labels["service"] = service;
        }
        return new PrometheusRuleGroup { Name = $"agent33-{service}", Rules = [.. rules] };
    }

    private static PrometheusAlert Alert(string name, string severity, string owner, string expression, string summary, string @for = "0m") => new()
    {
        Alert = name,
        Expr = expression,
        For = @for,
        Labels = new() { ["severity"] = severity },
        Annotations = new() { ["summary"] = summary, ["owner"] = owner, ["runbook"] = $"{Runbook}#{name}" },
    };
}

/// <summary>The rules' windows and waits; <see cref="Default"/> is what ships.</summary>
public sealed record AlertTiming(string Volume, string Spike, string Rate, string Corruption, string BackupFailure, string SustainedFor)
{
    public static readonly AlertTiming Default = new(
        AlertRules.VolumeWindow, AlertRules.SpikeWindow, AlertRules.RateWindow, AlertRules.CorruptionWindow, AlertRules.BackupFailureWindow, AlertRules.SustainedFor);
}

/// <summary>The alert thresholds, from the settings of the service each rule watches (<c>&lt;Service&gt;:Alerts:*</c>).</summary>
public sealed record AlertThresholds(RoutingAlertSettings Routing, GatewayAlertSettings Gateway, LearningAlertSettings Learning)
{
    public static readonly AlertThresholds Defaults = new(new RoutingAlertSettings(), new GatewayAlertSettings(), new LearningAlertSettings());

    /// <summary>
    /// Reads each service's appsettings.json; any key left unset takes its default. The backup age limit defaults
    /// to the learning service's <paramref name="backupSchedule"/> plus two hours (26 h for the daily schedule).
    /// </summary>
    public static AlertThresholds FromRepository(string repositoryRoot, TimeSpan? backupSchedule = null)
    {
        string Settings(string project) => Path.Combine(repositoryRoot, "services", project, "appsettings.json");
        var routing = new SettingsFile(Settings("Agent33.Routing"), "Routing:Alerts");
        var gateway = new SettingsFile(Settings("Agent33.Gateway"), "Gateway:Alerts");
        var learning = new SettingsFile(Settings("Agent33.Learning"), "Learning:Alerts");
        var r = Defaults.Routing;
        var g = Defaults.Gateway;
        var l = Defaults.Learning;
        return new AlertThresholds(
            new RoutingAlertSettings(
                routing.Read("HighEffortCountThreshold", r.HighEffortCount),
                routing.Read("HighCostUsdThreshold", r.HighCostUsd),
                routing.Read("HighTokenBudgetThreshold", r.HighTokenBudget)),
            new GatewayAlertSettings(
                gateway.Read("CircuitOpenMinutes", g.CircuitOpenMinutes, min: 1, whole: true),
                gateway.Read("ErrorRatioThreshold", g.ErrorRatio, max: 1),
                gateway.Read("ErrorRatioMinCalls", g.ErrorRatioMinCalls),
                gateway.Read("P99LatencySecondsThreshold", g.P99LatencySeconds, max: 59), // the buckets end at 60 s
                gateway.Read("GovernanceDenialsThreshold", g.GovernanceDenials)),
            new LearningAlertSettings(
                learning.Read("DatabaseUnavailableThreshold", l.DatabaseUnavailableAnswers),
                learning.Read("CorruptionEventsThreshold", l.CorruptionEvents),
                learning.Read("BackupMaxAgeHours", backupSchedule is { } schedule ? schedule.TotalHours + 2 : l.BackupMaxAgeHours, min: 1)));
    }

    /// <summary>One service's appsettings.json, read at one section (<c>Routing:Alerts</c>).</summary>
    private sealed class SettingsFile
    {
        private readonly string _section;
        private readonly Dictionary<string, JsonElement> _values = new(StringComparer.OrdinalIgnoreCase);

        public SettingsFile(string path, string section)
        {
            _section = section;
            if (!File.Exists(path))
            {
                return;
            }
            using var document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var node = document.RootElement;
            foreach (var part in section.Split(':'))
            {
                var child = node.ValueKind == JsonValueKind.Object
                    ? node.EnumerateObject().FirstOrDefault(p => string.Equals(p.Name, part, StringComparison.OrdinalIgnoreCase))
                    : default;
                if (child.Value.ValueKind == JsonValueKind.Undefined)
                {
                    return;
                }
                node = child.Value;
            }
            if (node.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in node.EnumerateObject())
                {
                    _values[property.Name] = property.Value.Clone();
                }
            }
        }

        public double Read(string key, double fallback, double min = 0, double max = double.MaxValue, bool whole = false)
        {
            if (!_values.TryGetValue(key, out var element))
            {
                return fallback;
            }
            var ok = element.ValueKind switch
            {
                JsonValueKind.Number => element.TryGetDouble(out var n) ? n : double.NaN,
                JsonValueKind.String => double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : double.NaN,
                _ => double.NaN,
            };
            if (!double.IsFinite(ok) || ok < min || ok > max || (whole && ok != Math.Floor(ok)))
            {
                throw new InvalidOperationException(
                    $"{_section}:{key} must be a {(whole ? "whole number" : "number")} from {AlertRules.Number(min)}{(max < double.MaxValue ? " to " + AlertRules.Number(max) : " up")}, not '{element}'.");
            }
            return ok;
        }
    }
}

/// <summary><c>Routing:Alerts:*</c>: the routing service's own rules use the same values.</summary>
public sealed record RoutingAlertSettings(double HighEffortCount = 25, double HighCostUsd = 5.0, double HighTokenBudget = 8000);

/// <summary><c>Gateway:Alerts:*</c>, read only by the manifest generator.</summary>
public sealed record GatewayAlertSettings(
    double CircuitOpenMinutes = 5, double ErrorRatio = 0.2, double ErrorRatioMinCalls = 20, double P99LatencySeconds = 10, double GovernanceDenials = 10);

/// <summary><c>Learning:Alerts:*</c>, read only by the manifest generator (BackupMaxAgeHours: the schedule + 2 h, 26 without one).</summary>
public sealed record LearningAlertSettings(double DatabaseUnavailableAnswers = 5, double CorruptionEvents = 0, double BackupMaxAgeHours = 26);
