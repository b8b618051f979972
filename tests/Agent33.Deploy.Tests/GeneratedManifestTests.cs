using System.Diagnostics;
using Agent33.Deploy;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;

namespace Agent33.Deploy.Tests;

public sealed class GeneratedManifestTests
{
    private static readonly string Root = AppHostManifest.FindRepositoryRoot(AppContext.BaseDirectory);
    private static readonly string K8sDir = Path.Combine(Root, "deploy", "k8s");

    private static readonly Dictionary<string, Type> CustomTypes = new()
    {
        [$"{PrometheusRule.ApiGroupVersion}/{nameof(PrometheusRule)}"] = typeof(PrometheusRule),
        [$"kustomize.config.k8s.io/v1beta1/{nameof(Kustomization)}"] = typeof(Kustomization),
    };

    private static List<object> LoadAll() =>
        Directory.GetFiles(K8sDir, "*.yaml").Order()
            .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f), CustomTypes))
            .ToList();

    [Fact]
    public async Task Committed_manifests_match_what_the_AppHost_generates_now()
    {
        var manifest = await AppHostManifest.PublishAsync(Root, build: false);
        var stale = AppHostManifest.Generate(Root, manifest)
            .Where(f => !File.Exists(Path.Combine(K8sDir, f.Name)) || File.ReadAllText(Path.Combine(K8sDir, f.Name)) != KubernetesFiles.Render(f))
            .Select(f => f.Name)
            .ToList();
        Assert.True(stale.Count == 0, $"deploy/k8s is stale ({string.Join(", ", stale)}); run deploy/generate.sh and commit the result.");
    }

    [Fact]
    public void Every_service_selects_the_pods_of_its_workload()
    {
        var objects = LoadAll();
        var podLabels = objects.OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template.Metadata.Labels))
            .Concat(objects.OfType<V1StatefulSet>().Select(s => (s.Metadata.Name, s.Spec.Template.Metadata.Labels)))
            .ToList();
        var services = objects.OfType<V1Service>().ToList();

        Assert.Equal(5, services.Count); // gateway, learning-service, routing, postgres, ratelimit
        foreach (var service in services)
        {
            var selected = podLabels.Where(p => service.Spec.Selector.All(s => p.Labels.TryGetValue(s.Key, out var v) && v == s.Value)).ToList();
            var workload = Assert.Single(selected);
            Assert.Equal(service.Metadata.Name, workload.Name);
        }
        foreach (var deployment in objects.OfType<V1Deployment>())
        {
            Assert.All(deployment.Spec.Selector.MatchLabels, l => Assert.Equal(l.Value, deployment.Spec.Template.Metadata.Labels[l.Key]));
        }
    }

    [Fact]
    public void Every_referenced_secret_and_config_map_key_exists()
    {
        var objects = LoadAll();
        var configMaps = objects.OfType<V1ConfigMap>().ToDictionary(c => c.Metadata.Name, c => c.Data.Keys.ToHashSet());
        var secrets = objects.OfType<V1Secret>().ToDictionary(s => s.Metadata.Name, s => s.StringData.Keys.ToHashSet());
        var references = 0;

        foreach (var container in Containers(objects))
        {
            foreach (var env in container.Env ?? [])
            {
                if (env.ValueFrom?.ConfigMapKeyRef is { } configRef)
                {
                    Assert.True(configMaps.TryGetValue(configRef.Name, out var keys) && keys.Contains(configRef.Key), $"{container.Name}: ConfigMap {configRef.Name} lacks {configRef.Key}");
                    references++;
                }
                if (env.ValueFrom?.SecretKeyRef is { } secretRef)
                {
                    Assert.True(secrets.TryGetValue(secretRef.Name, out var keys) && keys.Contains(secretRef.Key), $"{container.Name}: Secret {secretRef.Name} lacks {secretRef.Key}");
                    references++;
                }
            }
        }
        Assert.True(references > 20, $"only {references} references checked");
    }

    [Fact]
    public void Secrets_stay_out_of_config_maps_and_connection_strings_use_expansion()
    {
        var objects = LoadAll();
        Assert.DoesNotContain(objects.OfType<V1ConfigMap>().SelectMany(c => c.Data), kv => kv.Key.Contains("Key") && kv.Key.StartsWith("Auth", StringComparison.Ordinal) && !kv.Key.EndsWith("Tenant", StringComparison.Ordinal) && !kv.Key.Contains("Scopes"));

        var learning = Containers(objects).Single(c => c.Name == "learning-service");
        var connection = learning.Env.Single(e => e.Name == "ConnectionStrings__learning");
        Assert.Equal("Host=postgres;Port=5432;Username=postgres;Password=$(AGENT33_SECRET_POSTGRES_PASSWORD);Database=learning", connection.Value);
        var passwordIndex = learning.Env.ToList().FindIndex(e => e.Name == "AGENT33_SECRET_POSTGRES_PASSWORD");
        Assert.InRange(passwordIndex, 0, learning.Env.IndexOf(connection) - 1); // Kubernetes expands only earlier entries
    }

    [Fact]
    public void The_service_key_holds_write_and_service_and_never_admin_on_every_service()
    {
        var objects = LoadAll();
        var configMaps = objects.OfType<V1ConfigMap>().ToDictionary(c => c.Metadata.Name, c => c.Data);
        var deployments = objects.OfType<V1Deployment>().Where(ScalingManifestTests.IsServiceDeployment).ToList();
        Assert.Equal(3, deployments.Count);
        foreach (var container in deployments.Select(d => Assert.Single(d.Spec.Template.Spec.Containers)))
        {
            // The key entry whose Key comes from the service-api-key secret: its scopes, read through the ConfigMap.
            var keyEntry = Assert.Single(container.Env, e => e.Name.StartsWith("Auth__ApiKeys__", StringComparison.Ordinal) && e.Name.EndsWith("__Key", StringComparison.Ordinal)
                && e.ValueFrom?.SecretKeyRef?.Key == "service-api-key");
            var prefix = keyEntry.Name[..^"Key".Length] + "Scopes__";
            var scopes = container.Env.Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(e => configMaps[e.ValueFrom.ConfigMapKeyRef.Name][e.ValueFrom.ConfigMapKeyRef.Key])
                .Order()
                .ToList();
            Assert.Equal(["service", "write"], scopes);
        }
    }

    [Fact]
    public void Probes_point_at_the_paths_every_service_maps()
    {
        var mapped = new[] { ServiceDefaultsExtensions.HealthPath, ServiceDefaultsExtensions.AlivePath };
        var deployments = LoadAll().OfType<V1Deployment>().Where(ScalingManifestTests.IsServiceDeployment).ToList();
        Assert.Equal(3, deployments.Count);
        foreach (var deployment in deployments)
        {
            var container = Assert.Single(deployment.Spec.Template.Spec.Containers);
            Assert.Equal(ServiceDefaultsExtensions.HealthPath, container.ReadinessProbe.HttpGet.Path);
            Assert.Equal(ServiceDefaultsExtensions.AlivePath, container.LivenessProbe.HttpGet.Path);
            Assert.Contains(container.StartupProbe.HttpGet.Path, mapped);
            Assert.Contains(container.Ports, p => p.Name == container.ReadinessProbe.HttpGet.Port.Value);
            Assert.Equal(ServiceDefaultsExtensions.MetricsPath, deployment.Spec.Template.Metadata.Annotations["prometheus.io/path"]);
            Assert.True(deployment.Spec.Template.Spec.SecurityContext.RunAsNonRoot);
            Assert.NotNull(container.Resources.Limits["memory"]);
        }
    }

    [Fact]
    public void Only_the_gateway_reaches_out_and_only_the_learning_service_and_the_gateway_reach_postgres()
    {
        var policies = LoadAll().OfType<V1NetworkPolicy>().ToList();

        var postgresIngress = Assert.Single(policies, p => SelectedName(p) == "postgres");
        var from = Assert.Single(postgresIngress.Spec.Ingress).FromProperty;
        Assert.Equal(["gateway", "learning-service"], from.Select(peer => peer.PodSelector.MatchLabels["app.kubernetes.io/name"]).Order());

        // Every service keeps its write rate limits in Redis, on Redis' port only.
        var redisIngress = Assert.Single(Assert.Single(policies, p => SelectedName(p) == "ratelimit").Spec.Ingress);
        Assert.Equal(["gateway", "learning-service", "routing"], redisIngress.FromProperty.Select(peer => peer.PodSelector.MatchLabels["app.kubernetes.io/name"]).Order());
        Assert.Equal("6379", Assert.Single(redisIngress.Ports).Port.Value);

        var internalEgress = Assert.Single(policies, p => p.Spec.PodSelector.MatchExpressions is not null);
        Assert.Equal(["learning-service", "postgres", "ratelimit", "routing"], internalEgress.Spec.PodSelector.MatchExpressions.Single().Values.Order());
        Assert.All(internalEgress.Spec.Egress, rule => Assert.True(rule.To is not null || rule.Ports.All(p => p.Port.Value == "53")));

        var gatewayEgress = Assert.Single(policies, p => SelectedName(p) == "gateway");
        Assert.Null(Assert.Single(gatewayEgress.Spec.Egress).To);
    }

    [Fact]
    public void Every_service_shares_its_write_rate_limits_through_one_redis_pod()
    {
        var objects = LoadAll();
        var redis = Assert.Single(objects.OfType<V1Deployment>(), d => d.Metadata.Name == "ratelimit");
        Assert.Equal(1, redis.Spec.Replicas); // one store: two pods would split every key's bucket
        Assert.Equal("Recreate", redis.Spec.Strategy.Type);
        var container = Assert.Single(redis.Spec.Template.Spec.Containers);
        Assert.StartsWith("docker.io/library/redis:", container.Image);
        Assert.Contains("--requirepass $REDIS_PASSWORD", string.Join(' ', container.Args));
        Assert.Equal("ratelimit-password", container.Env.Single(e => e.Name == "REDIS_PASSWORD").ValueFrom.SecretKeyRef.Key);
        Assert.True(redis.Spec.Template.Spec.SecurityContext.RunAsNonRoot);
        Assert.DoesNotContain(objects.OfType<V1StatefulSet>(), s => s.Metadata.Name == "ratelimit");
        var service = Assert.Single(objects.OfType<V1Service>(), s => s.Metadata.Name == "ratelimit");
        Assert.Null(service.Spec.ClusterIP); // a stable virtual IP across pod replacements

        foreach (var name in new[] { "gateway", "learning-service", "routing" })
        {
            var env = Assert.Single(Assert.Single(objects.OfType<V1Deployment>(), d => d.Metadata.Name == name).Spec.Template.Spec.Containers).Env.ToList();
            Assert.Equal("ratelimit:6379,password=$(AGENT33_SECRET_RATELIMIT_PASSWORD)", env.Single(e => e.Name == "ConnectionStrings__ratelimit").Value);
            // Kubernetes expands $(VAR) only from variables defined before it.
            Assert.True(env.FindIndex(e => e.Name == "AGENT33_SECRET_RATELIMIT_PASSWORD") < env.FindIndex(e => e.Name == "ConnectionStrings__ratelimit"));
        }
    }

    [Fact]
    public void Alert_rules_use_the_routing_service_thresholds()
    {
        var thresholds = AlertThresholds.FromRepository(Root).Routing;
        var groups = Assert.Single(LoadAll().OfType<PrometheusRule>()).Spec.Groups.ToDictionary(g => g.Name);
        var rules = groups["agent33-routing"].Rules.ToDictionary(r => r.Alert);

        Assert.Equal(["high_effort_cost_spike", "high_effort_routing_volume", "high_effort_token_budget_spike"], rules.Keys.Order());
        Assert.EndsWith($"> {thresholds.HighEffortCount}", rules["high_effort_routing_volume"].Expr);
        // Either spelling of the bound (le="5" in Prometheus text, le="5.0" in OpenMetrics and Prometheus 3).
        Assert.Contains($"_bucket{{{AlertRules.BucketBound(thresholds.HighCostUsd)}}}", rules["high_effort_cost_spike"].Expr);
        Assert.Contains($"_bucket{{{AlertRules.BucketBound(thresholds.HighTokenBudget)}}}", rules["high_effort_token_budget_spike"].Expr);
        Assert.Contains("le=~\"8000(\\\\.0)?\"", rules["high_effort_token_budget_spike"].Expr);
        Assert.Equal(["agent33-gateway", "agent33-learning", "agent33-routing"], groups.Keys.Order());
    }

    [Fact]
    public void Scheduled_backups_are_on_in_the_manifests_daily_keeping_seven_and_alerted_after_26_hours()
    {
        var objects = LoadAll();
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "learning-service-env").Data;
        Assert.Equal("1.00:00:00", config["Learning__Backups__Schedule"]);
        Assert.Equal("7", config["Learning__Backups__Keep"]);
        var learning = Containers(objects).Single(c => c.Name == "learning-service");
        Assert.Contains(learning.Env, e => e.Name == "Learning__Backups__Schedule" && e.ValueFrom.ConfigMapKeyRef.Name == "learning-service-env");

        var stale = Assert.Single(objects.OfType<PrometheusRule>()).Spec.Groups.SelectMany(g => g.Rules).Single(r => r.Alert == "learning_backup_stale");
        Assert.EndsWith($"> {26 * 3600}", stale.Expr);
    }

    [Fact]
    public void Kustomize_renders_every_file_with_overridable_images()
    {
        var kustomization = Assert.Single(LoadAll().OfType<Kustomization>());
        Assert.Equal(Directory.GetFiles(K8sDir, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(), kustomization.Resources.Order());
        var images = Containers(LoadAll()).Select(c => c.Image.Split(':')[0]).Where(i => i.StartsWith(ManifestGenerator.ImagePrefix, StringComparison.Ordinal));
        Assert.Equal(images.Order(), kustomization.Images.Select(i => i.Name).Order());

        var kubectl = Process.Start(new ProcessStartInfo("kubectl", ["kustomize", K8sDir]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = kubectl.StandardOutput.ReadToEnd();
        var errors = kubectl.StandardError.ReadToEnd();
        kubectl.WaitForExit();
        Assert.True(kubectl.ExitCode == 0, errors);
        Assert.Equal(28, output.Split('\n').Count(l => l.StartsWith("kind: ", StringComparison.Ordinal)));
        Assert.Contains($"name: {Agent33.Deploy.Dashboards.Dashboards.ConfigMapName}", output);
    }

    private static string? SelectedName(V1NetworkPolicy policy) =>
        policy.Spec.PodSelector.MatchLabels is { } labels && labels.TryGetValue("app.kubernetes.io/name", out var name) ? name : null;

    private static IEnumerable<V1Container> Containers(List<object> objects) =>
        objects.OfType<V1Deployment>().SelectMany(d => d.Spec.Template.Spec.Containers)
            .Concat(objects.OfType<V1StatefulSet>().SelectMany(s => s.Spec.Template.Spec.Containers));
}
