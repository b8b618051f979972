using System.Globalization;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Agent33.Deploy;

/// <summary>
/// The Prometheus Operator's <c>PrometheusRule</c> (KubernetesClient has no model for custom resources).
/// In a multi-replica deployment each routing replica sees only its own decisions, so the alert rules
/// are evaluated by Prometheus over all replicas' scraped metrics instead.
/// </summary>
public sealed class PrometheusRule : IKubernetesObject<V1ObjectMeta>
{
    public const string ApiGroupVersion = "monitoring.coreos.com/v1";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = ApiGroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = nameof(PrometheusRule);

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public PrometheusRuleSpec Spec { get; set; } = new();
}

public sealed class PrometheusRuleSpec
{
    [JsonPropertyName("groups")]
    public List<PrometheusRuleGroup> Groups { get; set; } = [];
}

public sealed class PrometheusRuleGroup
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("rules")]
    public List<PrometheusAlert> Rules { get; set; } = [];
}

public sealed class PrometheusAlert
{
    [JsonPropertyName("alert")]
    public string Alert { get; set; } = "";

    [JsonPropertyName("expr")]
    public string Expr { get; set; } = "";

    [JsonPropertyName("for")]
    public string For { get; set; } = "0m";

    [JsonPropertyName("labels")]
    public Dictionary<string, string> Labels { get; set; } = [];

    [JsonPropertyName("annotations")]
    public Dictionary<string, string> Annotations { get; set; } = [];
}

/// <summary>The routing service's three default alert rules, with the thresholds of its settings.</summary>
public static class RoutingAlertRules
{
    public static PrometheusRule Build(AlertThresholds thresholds)
    {
        static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
        static string MaxOf(string histogram) =>
            $"histogram_quantile(0.99, sum by (le) (rate({histogram}_bucket[5m])))";

        return new PrometheusRule
        {
            Metadata = new V1ObjectMeta
            {
                Name = "agent33-routing-alerts",
                Labels = ManifestGenerator.SelectorLabels("routing"),
            },
            Spec = new PrometheusRuleSpec
            {
                Groups =
                [
                    new PrometheusRuleGroup
                    {
                        Name = "agent33-routing",
                        Rules =
                        [
                            Alert("high_effort_routing_volume",
                                $"sum(increase(effort_routing_high_effort_total[1h])) > {Number(thresholds.HighEffortCount)}",
                                "More high-effort routing decisions in the last hour than Routing:Alerts:HighEffortCountThreshold."),
                            Alert("high_effort_cost_spike",
                                $"{MaxOf("effort_routing_estimated_cost_usd")} > {Number(thresholds.HighCostUsd)}",
                                "Estimated cost per decision (p99, 5 min) above Routing:Alerts:HighCostUsdThreshold."),
                            Alert("high_effort_token_budget_spike",
                                $"{MaxOf("effort_routing_estimated_token_budget")} > {Number(thresholds.HighTokenBudget)}",
                                "Estimated token budget per decision (p99, 5 min) above Routing:Alerts:HighTokenBudgetThreshold."),
                        ],
                    },
                ],
            },
        };
    }

    private static PrometheusAlert Alert(string name, string expression, string summary) => new()
    {
        Alert = name,
        Expr = expression,
        For = "5m",
        Labels = new() { ["severity"] = "warning", ["service"] = "routing" },
        Annotations = new() { ["summary"] = summary, ["runbook"] = "docs/operators/alerts.md" },
    };
}

/// <summary><c>kustomization.yaml</c>: every generated file, and images operators override per environment.</summary>
public sealed class Kustomization
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = "kustomize.config.k8s.io/v1beta1";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = nameof(Kustomization);

    [JsonPropertyName("resources")]
    public List<string> Resources { get; set; } = [];

    [JsonPropertyName("images")]
    public List<KustomizeImage> Images { get; set; } = [];

    public static Kustomization Build(IEnumerable<string> files, IEnumerable<string> images) => new()
    {
        Resources = [.. files],
        Images = [.. images.Select(i => new KustomizeImage { Name = i, NewName = i, NewTag = "latest" })],
    };
}

public sealed class KustomizeImage
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("newName")]
    public string NewName { get; set; } = "";

    [JsonPropertyName("newTag")]
    public string NewTag { get; set; } = "";
}
