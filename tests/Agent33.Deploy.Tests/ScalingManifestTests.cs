using Agent33.Deploy;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;

namespace Agent33.Deploy.Tests;

/// <summary>The committed manifests run every service as several pods that scale, spread, and drain gracefully.</summary>
public sealed class ScalingManifestTests
{
    private static readonly string K8sDir = Path.Combine(AppHostManifest.FindRepositoryRoot(AppContext.BaseDirectory), "deploy", "k8s");

    private static readonly Dictionary<string, Type> CustomTypes = new()
    {
        [$"{PrometheusRule.ApiGroupVersion}/{nameof(PrometheusRule)}"] = typeof(PrometheusRule),
        [$"kustomize.config.k8s.io/v1beta1/{nameof(Kustomization)}"] = typeof(Kustomization),
    };

    private static readonly List<object> Objects = Directory.GetFiles(K8sDir, "*.yaml").Order()
        .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f), CustomTypes))
        .ToList();

    private static readonly string[] Services = ["gateway", "learning-service", "routing"];

    private static List<V1Deployment> Deployments()
    {
        // The services' Deployments (images built from this repository); Redis' one-pod Deployment is not a service.
        var deployments = Objects.OfType<V1Deployment>().Where(IsServiceDeployment).OrderBy(d => d.Metadata.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(Services, deployments.Select(d => d.Metadata.Name));
        return deployments;
    }

    private static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels) =>
        selector.MatchExpressions is null && selector.MatchLabels.Count > 0
        && selector.MatchLabels.All(l => labels.TryGetValue(l.Key, out var value) && value == l.Value);

    [Fact]
    public void Every_service_runs_at_least_two_pods()
    {
        Assert.All(Deployments(), d => Assert.True(d.Spec.Replicas >= 2, $"{d.Metadata.Name}: {d.Spec.Replicas} replica(s)"));
        Assert.Equal(1, Assert.Single(Objects.OfType<V1StatefulSet>()).Spec.Replicas); // Postgres is one server
    }

    [Fact]
    public void Each_service_has_a_cpu_autoscaler_for_its_own_deployment()
    {
        var autoscalers = Objects.OfType<V2HorizontalPodAutoscaler>().ToList();
        Assert.Equal(Services.Length, autoscalers.Count);
        foreach (var deployment in Deployments())
        {
            var hpa = Assert.Single(autoscalers, a => a.Spec.ScaleTargetRef.Name == deployment.Metadata.Name);
            Assert.Equal("autoscaling/v2", hpa.ApiVersion);
            Assert.Equal(("apps/v1", "Deployment"), (hpa.Spec.ScaleTargetRef.ApiVersion, hpa.Spec.ScaleTargetRef.Kind));
            Assert.True(hpa.Spec.MinReplicas >= 2, $"{hpa.Metadata.Name}: min {hpa.Spec.MinReplicas}");
            Assert.True(hpa.Spec.MinReplicas <= hpa.Spec.MaxReplicas, $"{hpa.Metadata.Name}: min {hpa.Spec.MinReplicas} > max {hpa.Spec.MaxReplicas}");
            Assert.Equal(hpa.Spec.MinReplicas, deployment.Spec.Replicas); // re-applying never starts fewer than the floor

            var metric = Assert.Single(hpa.Spec.Metrics);
            Assert.Equal("Resource", metric.Type);
            Assert.Equal("cpu", metric.Resource.Name);
            Assert.Equal("Utilization", metric.Resource.Target.Type);
            Assert.InRange(metric.Resource.Target.AverageUtilization ?? 0, 10, 95);

            // Utilization is a share of the request: without a CPU request the autoscaler has nothing to measure.
            var container = Assert.Single(deployment.Spec.Template.Spec.Containers);
            Assert.True(container.Resources.Requests.TryGetValue("cpu", out var cpu) && cpu.ToDecimal() > 0, $"{deployment.Metadata.Name}: no CPU request");
        }
    }

    [Fact]
    public void Each_service_has_a_disruption_budget_selecting_exactly_its_pods()
    {
        var budgets = Objects.OfType<V1PodDisruptionBudget>().ToList();
        Assert.Equal(Services.Length, budgets.Count);
        var deployments = Deployments();
        foreach (var budget in budgets)
        {
            Assert.Equal("policy/v1", budget.ApiVersion);
            Assert.True(budget.Spec.MaxUnavailable?.Value == "1" || budget.Spec.MinAvailable?.Value == "1",
                $"{budget.Metadata.Name}: neither maxUnavailable 1 nor minAvailable 1");
            var selected = deployments.Where(d => Selects(budget.Spec.Selector, d.Spec.Template.Metadata.Labels)).ToList();
            Assert.Equal(budget.Metadata.Name, Assert.Single(selected).Metadata.Name);
            // One pod may go while at least one other serves.
            Assert.True(selected[0].Spec.Replicas > 1);
        }
    }

    [Fact]
    public void Pods_of_a_service_spread_over_nodes_and_zones_without_blocking_scheduling()
    {
        foreach (var deployment in Deployments())
        {
            var constraints = deployment.Spec.Template.Spec.TopologySpreadConstraints;
            Assert.Equal(["kubernetes.io/hostname", "topology.kubernetes.io/zone"], constraints.Select(c => c.TopologyKey).Order(StringComparer.Ordinal));
            Assert.All(constraints, c =>
            {
                Assert.Equal("ScheduleAnyway", c.WhenUnsatisfiable);
                Assert.Equal(1, c.MaxSkew);
                Assert.True(Selects(c.LabelSelector, deployment.Spec.Template.Metadata.Labels), $"{deployment.Metadata.Name}: spreads pods it does not own");
            });
        }
    }

    [Fact]
    public void Pods_leave_the_endpoints_before_stopping_and_get_time_to_drain()
    {
        var shutdown = ServiceDefaultsExtensions.DefaultShutdownTimeout.TotalSeconds;
        Assert.Equal(ManifestGenerator.ShutdownSeconds, shutdown); // the generator's copy of the services' drain
        foreach (var deployment in Deployments())
        {
            var container = Assert.Single(deployment.Spec.Template.Spec.Containers);
            var preStop = container.Lifecycle?.PreStop?.Sleep?.Seconds;
            Assert.True(preStop is >= 3, $"{deployment.Metadata.Name}: no preStop pause");
            var grace = deployment.Spec.Template.Spec.TerminationGracePeriodSeconds;
            Assert.True(grace > preStop + shutdown, $"{deployment.Metadata.Name}: grace {grace}s is not above preStop {preStop}s + shutdown {shutdown}s");
        }
    }

    internal static bool IsServiceDeployment(V1Deployment deployment) =>
        deployment.Spec.Template.Spec.Containers.All(c => c.Image.StartsWith(ManifestGenerator.ImagePrefix, StringComparison.Ordinal));
}
