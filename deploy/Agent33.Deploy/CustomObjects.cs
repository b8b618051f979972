using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Agent33.Deploy;

/// <summary>
/// The Prometheus Operator's <c>PrometheusRule</c> (KubernetesClient has no model for custom resources).
/// Its <c>spec</c> is a Prometheus rules file as it stands (<c>promtool check rules</c> reads it). In a
/// multi-replica deployment each replica sees only its own calls, so the alert rules are evaluated by
/// Prometheus over all replicas' scraped metrics (see <see cref="AlertRules"/>).
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
