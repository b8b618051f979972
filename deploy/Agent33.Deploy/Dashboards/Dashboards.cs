using k8s.Models;

namespace Agent33.Deploy.Dashboards;

/// <summary>
/// The operators' Grafana dashboards, one per service, over the metric names each service exports and the same
/// thresholds as the alert rules (a panel behind a rule draws the rule's own figure). Written by the generator to
/// <c>deploy/grafana/*.json</c> and into one ConfigMap labelled for Grafana's dashboard sidecar
/// (<c>grafana_dashboard: "1"</c>). Queries use Grafana's <c>$__rate_interval</c> and <c>$__range</c>.
/// </summary>
public static class Dashboards
{
    public const string ConfigMapName = "agent33-grafana-dashboards";
    public const string SidecarLabel = "grafana_dashboard";
    public const string RateInterval = "$__rate_interval";
    public const string Range = "$__range";

    /// <summary>For each alert rule, the dashboard (by uid) and the panel that shows it (docs/operators/alerts.md names them too).</summary>
    public static readonly IReadOnlyDictionary<string, (string Dashboard, string Panel)> AlertPanels = new Dictionary<string, (string, string)>
    {
        ["high_effort_routing_volume"] = ("agent33-routing", "High-effort decisions (last hour)"),
        ["high_effort_cost_spike"] = ("agent33-routing", "Decisions above the cost threshold (10 min)"),
        ["high_effort_token_budget_spike"] = ("agent33-routing", "Decisions above the token budget threshold (10 min)"),
        ["connector_circuit_open"] = ("agent33-gateway", "Circuit state"),
        ["connector_error_ratio"] = ("agent33-gateway", "Failed or timed-out share of calls"),
        ["connector_latency_p99"] = ("agent33-gateway", "Call latency quantiles"),
        ["connector_governance_denial_spike"] = ("agent33-gateway", "Governance denials"),
        ["learning_database_unavailable"] = ("agent33-learning", "Database unavailable answers (503)"),
        ["learning_corruption_events"] = ("agent33-learning", "Corruption events by kind"),
        ["learning_backup_failed"] = ("agent33-learning", "Scheduled backup failures"),
        ["learning_backup_stale"] = ("agent33-learning", "Newest backup age"),
    };

    public static IReadOnlyList<GrafanaDashboard> Build(AlertThresholds thresholds) =>
        [Gateway(thresholds.Gateway), Routing(thresholds.Routing), Learning(thresholds.Learning)];

    /// <summary>The dashboards as one ConfigMap the Grafana sidecar picks up by its label: a key per dashboard file.</summary>
    public static V1ConfigMap ConfigMap(IEnumerable<GrafanaDashboard> dashboards) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = new V1ObjectMeta
        {
            Name = ConfigMapName,
            Labels = new Dictionary<string, string>(ManifestGenerator.SelectorLabels(ManifestGenerator.PartOf)) { [SidecarLabel] = "1" },
        },
        Data = dashboards.ToDictionary(FileName, d => d.ToJson()),
    };

    public static string FileName(GrafanaDashboard dashboard) => $"{dashboard.Uid}.json";

    private static GrafanaDashboard Dashboard(string uid, string title, string description, DashboardLayout layout) =>
        new(uid, title, description, ["agent33"],
            new GrafanaTemplating([new GrafanaVariable("datasource", "Data source", "datasource", "prometheus")]),
            layout.Panels);

    private static string Quantile(double q, string histogram, string by) =>
        $"histogram_quantile({AlertRules.Number(q)}, sum by ({by}) (rate({histogram}_bucket[{RateInterval}])))";

    public static GrafanaDashboard Gateway(GatewayAlertSettings alerts) => Dashboard("agent33-gateway", "Agent33 / Gateway",
        "Connector calls through the boundary pipeline, circuits and governance, and the LLM endpoint's requests, tokens, spend and budgets.",
        new DashboardLayout()
            .Row("Connectors")
            .TimeSeries("Calls by outcome", "Connector calls per second by connector and outcome (each attempt counts once).", "reqps",
                ($"sum by (connector, outcome) (rate(connector_calls_total[{RateInterval}]))", "{{connector}} {{outcome}}"))
            .TimeSeries("Failed or timed-out share of calls",
                $"Share of each connector's calls that failed or timed out; connector_error_ratio fires above {AlertRules.Number(alerts.ErrorRatio)} for {AlertRules.SustainedFor}.", "percentunit",
                ($"sum by (connector) (rate(connector_calls_total{{outcome=~\"failure|timeout\"}}[{RateInterval}])) / sum by (connector) (rate(connector_calls_total[{RateInterval}]))", "{{connector}}"))
            .TimeSeries("Call latency quantiles",
                $"p50, p95 and p99 of each connector's call attempts; connector_latency_p99 fires when p99 stays above {AlertRules.Number(alerts.P99LatencySeconds)} s.", "s",
                (Quantile(0.5, "connector_call_duration_seconds", "connector, le"), "p50 {{connector}}"),
                (Quantile(0.95, "connector_call_duration_seconds", "connector, le"), "p95 {{connector}}"),
                (Quantile(0.99, "connector_call_duration_seconds", "connector, le"), "p99 {{connector}}"))
            .TimeSeries("Circuit state", "0 closed, 1 open, 2 half-open, per replica and connector; connector_circuit_open fires when one stays open.", "none",
                ("max by (connector, instance) (connector_circuit_state)", "{{connector}} {{instance}}"))
            .TimeSeries("Circuit transitions", "Breaker transitions by connector and new state.", "none",
                ($"sum by (connector, to) (increase(connector_circuit_transitions_total[{RateInterval}]))", "{{connector}} → {{to}}"))
            .TimeSeries("Governance denials",
                $"Operations refused by governance; connector_governance_denial_spike fires above {AlertRules.Number(alerts.GovernanceDenials)} in {AlertRules.RateWindow}.", "none",
                ($"sum by (connector, operation) (increase(connector_governance_denials_total[{RateInterval}]))", "{{connector}} {{operation}}"))
            .Row("LLM calls")
            .TimeSeries("LLM requests", "LLM calls per second by served model and outcome.", "reqps",
                ($"sum by (model, outcome) (rate(llm_requests_total[{RateInterval}]))", "{{model}} {{outcome}}"))
            .TimeSeries("Tokens", "Prompt and completion tokens per second by model.", "none",
                ($"sum by (model, kind) (rate(llm_tokens_total[{RateInterval}]))", "{{model}} {{kind}}"))
            .TimeSeries("Spend by tenant", "USD spent over the dashboard's range, by tenant (usage priced by routing's catalogue).", "currencyUSD",
                ($"sum by (tenant) (increase(llm_tenant_cost_usd_total[{Range}]))", "{{tenant}}"))
            .TimeSeries("Spend by model", "USD spent over the dashboard's range, by served model.", "currencyUSD",
                ($"sum by (model) (increase(llm_cost_usd_total[{Range}]))", "{{model}}"))
            .TimeSeries("Time to first token", "p50 and p95 from the call to the answer's first byte.", "s",
                (Quantile(0.5, "llm_time_to_first_token_seconds", "le"), "p50"),
                (Quantile(0.95, "llm_time_to_first_token_seconds", "le"), "p95"))
            .TimeSeries("Budget refusals and routing failures",
                "Calls refused for a tenant's daily budget, and auto calls that took Llm:DefaultModel because routing gave no decision (unauthorized/forbidden: ServiceApiKey).", "none",
                ($"sum(increase(llm_budget_rejections_total[{RateInterval}]))", "budget refusals"),
                ($"sum by (reason) (increase(llm_routing_failures_total[{RateInterval}]))", "routing {{reason}}")));

    public static GrafanaDashboard Routing(RoutingAlertSettings alerts) => Dashboard("agent33-routing", "Agent33 / Routing",
        "Effort decisions, the high-effort share, and estimated against actual tokens and cost.",
        new DashboardLayout()
            .Row("Decisions")
            .TimeSeries("Decisions by effort and source", "Decisions per second: who chose the effort (request, policy, heuristic, default).", "reqps",
                ($"sum by (effort, source) (rate(effort_routing_decisions_total[{RateInterval}]))", "{{effort}} {{source}}"))
            .TimeSeries("High-effort share", "High-effort decisions as a share of all decisions.", "percentunit",
                ($"sum(rate(effort_routing_high_effort_total[{RateInterval}])) / sum(rate(effort_routing_decisions_total[{RateInterval}]))", "high effort"))
            .TimeSeries("High-effort decisions (last hour)",
                $"What high_effort_routing_volume counts: high-effort decisions over the last {AlertRules.VolumeWindow}, all replicas; it fires above {AlertRules.Number(alerts.HighEffortCount)}.", "none",
                ($"sum({AlertRules.Events("effort_routing_high_effort_total", AlertRules.VolumeWindow)})", "high effort, last hour"))
            .TimeSeries("Decisions above the cost threshold (10 min)",
                $"What high_effort_cost_spike counts: decisions in the last {AlertRules.SpikeWindow} estimated above {AlertRules.Number(alerts.HighCostUsd)} USD.", "none",
                (AlertRules.DecisionsAbove("effort_routing_estimated_cost_usd", alerts.HighCostUsd), "above threshold"))
            .TimeSeries("Decisions above the token budget threshold (10 min)",
                $"What high_effort_token_budget_spike counts: decisions in the last {AlertRules.SpikeWindow} with a budget above {AlertRules.Number(alerts.HighTokenBudget)} tokens.", "none",
                (AlertRules.DecisionsAbove("effort_routing_estimated_token_budget", alerts.HighTokenBudget), "above threshold"))
            .Row("Estimated and actual")
            .TimeSeries("Estimated and actual tokens", "p50 and p95 of the decisions' token budgets and of the tokens the calls used.", "none",
                (Quantile(0.5, "effort_routing_estimated_token_budget", "le"), "estimated p50"),
                (Quantile(0.95, "effort_routing_estimated_token_budget", "le"), "estimated p95"),
                (Quantile(0.5, "effort_routing_actual_tokens", "le"), "actual p50"),
                (Quantile(0.95, "effort_routing_actual_tokens", "le"), "actual p95"))
            .TimeSeries("Estimated and actual cost", "USD per second: the decisions' estimates and the calls' priced usage.", "currencyUSD",
                ($"sum(rate(effort_routing_estimated_cost_usd_sum[{RateInterval}]))", "estimated"),
                ($"sum(rate(effort_routing_actual_cost_usd_sum[{RateInterval}]))", "actual"))
            .TimeSeries("Actual ÷ estimated tokens",
                "Median actual tokens ÷ the decision's token budget: 1 is exact, below 1 the budget was generous. (The cost ratio, "
                + "effort_routing_actual_to_estimated_cost_ratio, exists only where decisions carry an estimate: a provider or Routing:CostPer1kTokens.)", "none",
                (Quantile(0.5, "effort_routing_actual_to_estimated_token_ratio", "le"), "p50"),
                (Quantile(0.95, "effort_routing_actual_to_estimated_token_ratio", "le"), "p95")));

    public static GrafanaDashboard Learning(LearningAlertSettings alerts) => Dashboard("agent33-learning", "Agent33 / Learning",
        "Writes and reads of the learning API, database unavailability, corruption and backups.",
        new DashboardLayout()
            .Row("Traffic")
            .TimeSeries("Writes", "Learning API writes per second (POST, PUT, PATCH, DELETE) by route and status.", "reqps",
                ($"sum by (http_route, http_response_status_code) (rate(http_server_request_duration_seconds_count{{http_route=~\"/v1/improvements/learning/.*\",http_request_method=~\"POST|PUT|PATCH|DELETE\"}}[{RateInterval}]))",
                    "{{http_route}} {{http_response_status_code}}"))
            .TimeSeries("Reads", "Learning API reads per second (GET) by route and status.", "reqps",
                ($"sum by (http_route, http_response_status_code) (rate(http_server_request_duration_seconds_count{{http_route=~\"/v1/improvements/learning/.*\",http_request_method=\"GET\"}}[{RateInterval}]))",
                    "{{http_route}} {{http_response_status_code}}"))
            .Row("Health of the data")
            .TimeSeries("Database unavailable answers (503)",
                $"Requests answered 503 database_unavailable over {AlertRules.RateWindow}; learning_database_unavailable fires above {AlertRules.Number(alerts.DatabaseUnavailableAnswers)}.", "none",
                ($"sum({AlertRules.Events("learning_database_unavailable_total", AlertRules.RateWindow)})", "503 answers"))
            .TimeSeries("Corruption events by kind",
                $"Corrupt records or payloads quarantined or rejected in the last {AlertRules.CorruptionWindow}; learning_corruption_events fires above {AlertRules.Number(alerts.CorruptionEvents)}.", "none",
                ($"sum by (kind) ({AlertRules.Events("learning_corruption_events_total", AlertRules.CorruptionWindow)})", "{{kind}}"))
            .TimeSeries("Scheduled backup failures", $"Scheduled backup runs that failed in the last {AlertRules.BackupFailureWindow}; learning_backup_failed fires on any.", "none",
                ($"sum({AlertRules.Events("learning_backup_failures_total", AlertRules.BackupFailureWindow)})", "failed runs"))
            .TimeSeries("Newest backup age",
                $"Age of the newest backup, the freshest replica's view (never backed up: since the service started); learning_backup_stale fires above {AlertRules.Number(alerts.BackupMaxAgeHours)} h.", "s",
                ("min(learning_backup_age_seconds)", "newest backup age")));
}
