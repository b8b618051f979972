using Agent33.Contracts;
using k8s.Models;

namespace Agent33.Deploy;

/// <summary>
/// Turns the AppHost's Aspire manifest into Kubernetes objects: a Deployment, Service, ConfigMap,
/// HorizontalPodAutoscaler and PodDisruptionBudget per project, Postgres as a StatefulSet with a volume
/// claim, Redis (the shared write rate limits; nothing to keep) as a one-pod Deployment, one Secret for the AppHost's secret parameters, NetworkPolicies, and a PrometheusRule with the
/// alert rules of the whole system.
/// </summary>
public sealed class ManifestGenerator(AspireManifest manifest, AlertThresholds alerts)
{
    public const string PartOf = "agent33";
    public const string SecretName = "agent33-secrets";
    public const string ImagePrefix = "agent33/";
    public const int HttpPort = 8080;

    /// <summary>The paths every service maps (see Agent33.ServiceDefaults): readiness, liveness, scrape.</summary>
    public const string ReadinessPath = ServicePaths.Health;
    public const string LivenessPath = ServicePaths.Alive;
    public const string MetricsPath = ServicePaths.Metrics;

    /// <summary>The project that may reach the outside world, and the one that may reach Postgres.</summary>
    public const string Gateway = ServiceNames.Gateway;
    public const string LearningService = ServiceNames.Learning;

    public const string Routing = ServiceNames.Routing;

    /// <summary>
    /// How many pods of each service run: never fewer than two (one pod may be drained, evicted or rolling while the
    /// other serves), more as CPU rises. The services hold no state of their own (see docs/deploy.md, "Scaling and
    /// replicas"); the learning service and the gateway each hold a Postgres connection pool per pod, so their
    /// ceilings bound the connections Postgres must accept (replicas × pool size).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, ServiceScaling> Scaling = new Dictionary<string, ServiceScaling>(StringComparer.Ordinal)
    {
        [Gateway] = new(MinReplicas: 2, MaxReplicas: 6, TargetCpuPercent: 70),
        [Routing] = new(MinReplicas: 2, MaxReplicas: 6, TargetCpuPercent: 70),
        // Scales like the others (writers of the same signal merge under Postgres advisory locks; one replica at a time
        // takes the scheduled backup), but every pod is a Postgres client, so its ceiling stays low.
        [LearningService] = new(MinReplicas: 2, MaxReplicas: 4, TargetCpuPercent: 70),
    };

    /// <summary>A project the AppHost adds that is not in <see cref="Scaling"/> runs like this.</summary>
    public static readonly ServiceScaling DefaultScaling = new(MinReplicas: 2, MaxReplicas: 4, TargetCpuPercent: 70);

    /// <summary>
    /// Graceful shutdown. A terminating pod first sleeps <see cref="PreStopSeconds"/> while it still serves, so the
    /// endpoint controller, kube-proxy and ingresses stop sending it traffic; then SIGTERM starts the host's drain,
    /// which lasts at most <see cref="ShutdownSeconds"/> (Agent33.ServiceDefaults' HostOptions.ShutdownTimeout);
    /// the grace period adds a margin before Kubernetes kills the process.
    /// </summary>
    public const int PreStopSeconds = 5;
    public const int ShutdownSeconds = 25;
    public const int ShutdownMarginSeconds = 5;
    public const int TerminationGracePeriodSeconds = PreStopSeconds + ShutdownSeconds + ShutdownMarginSeconds;

    /// <summary>Pods of one service spread over nodes, then zones; neither blocks scheduling when it cannot be met.</summary>
    public static readonly IReadOnlyList<string> SpreadTopologyKeys = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"];

    private const int DotnetAppUser = 1654; // the non-root "app" user of the .NET container images
    private const int PostgresUser = 999;   // the postgres user of the official image
    private const int RedisUser = 999;      // the redis user of the official image

    public IReadOnlyList<GeneratedFile> Generate()
    {
        var projects = manifest.ResourcesOfType("project.v0").Order(StringComparer.Ordinal).ToList();
        var containers = manifest.ResourcesOfType("container.v0").Order(StringComparer.Ordinal).ToList();
        var files = new List<GeneratedFile>();

        foreach (var project in projects)
        {
            var (configMap, env) = BuildEnv(project);
            var scaling = Scaling.GetValueOrDefault(project, DefaultScaling);
            files.Add(new GeneratedFile($"{project}.yaml",
                [configMap, ProjectDeployment(project, env, scaling), HttpService(project), Autoscaler(project, scaling), DisruptionBudget(project)]));
        }
        foreach (var container in containers)
        {
            var (configMap, env) = BuildEnv(container);
            files.Add(new GeneratedFile($"{container}.yaml", IsStateful(container)
                ? [configMap, ContainerStatefulSet(container, env), ContainerService(container)]
                : [configMap, ContainerDeployment(container, env), ContainerService(container)]));
        }
        files.Add(new GeneratedFile("secrets.yaml", [Secrets()]));
        files.Add(new GeneratedFile("network-policies.yaml", NetworkPolicies(projects, containers)));
        files.Add(new GeneratedFile("prometheus-rules.yaml", [AlertRules.Build(alerts)]));
        files.Add(new GeneratedFile("grafana-dashboards.yaml", [Dashboards.Dashboards.ConfigMap(Dashboards.Dashboards.Build(alerts))]));
        files.Add(new GeneratedFile("kustomization.yaml",
            [Kustomization.Build(files.Select(f => f.Name), projects.Select(p => ImagePrefix + p))]));
        return files;
    }

    /// <summary>A container with volumes keeps data (Postgres); one without (Redis) can be replaced by a fresh pod at any time.</summary>
    private bool IsStateful(string container) => manifest[container].TryGetProperty("volumes", out var volumes) && volumes.GetArrayLength() > 0;

    private bool IsPostgres(string container) => manifest[container].GetProperty("image").GetString()!.Contains("/postgres:", StringComparison.Ordinal);

    /// <summary>The container's entrypoint and arguments as the AppHost sets them (Redis: its password flag), or null for the image's own.</summary>
    private (List<string>? Command, List<string>? Args) CommandOf(string container)
    {
        var definition = manifest[container];
        var command = definition.TryGetProperty("entrypoint", out var entrypoint) && entrypoint.GetString() is { Length: > 0 } e ? new List<string> { e } : null;
        var args = definition.TryGetProperty("args", out var a)
            ? a.EnumerateArray().Select(arg => manifest.Resolve(arg.GetString()!, PortOf) is { Secrets.Count: 0 } value
                ? value.Text
                : throw new InvalidOperationException($"{container}: argument '{arg}' cannot be expressed in Kubernetes without writing a secret into the manifest.")).ToList()
            : null;
        return (command, args);
    }

    /// <summary>The projects whose settings reference the resource, directly or through a connection string (its clients).</summary>
    private List<string> ClientsOf(string resource) =>
        manifest.ResourcesOfType("project.v0")
            .Where(project => manifest.Env(project).Values.Any(value => manifest.References(value).Contains(resource)))
            .Order(StringComparer.Ordinal)
            .ToList();

    private int PortOf(string resource)
    {
        if (manifest.Type(resource) == "project.v0")
        {
            return HttpPort;
        }
        var bindings = manifest[resource].GetProperty("bindings");
        return bindings.EnumerateObject().First().Value.GetProperty("targetPort").GetInt32();
    }

    /// <summary>
    /// Plain values go to the resource's ConfigMap; secret parameters come from the shared Secret;
    /// values that embed a secret (connection strings) are composed with Kubernetes' <c>$(VAR)</c>
    /// expansion, so no secret is ever written into a ConfigMap.
    /// </summary>
    private (V1ConfigMap, List<V1EnvVar>) BuildEnv(string resource)
    {
        var data = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var secretVars = new SortedSet<string>(StringComparer.Ordinal);
        var composed = new List<V1EnvVar>();
        var configName = $"{resource}-env";

        foreach (var (name, expression) in manifest.Env(resource).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (name == "HTTP_PORTS")
            {
                data[name] = HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
                continue;
            }
            // https bindings and URI-encoded parameters have no in-cluster equivalent; services read
            // the plain http and connection-string variables instead.
            if (manifest.Resolve(expression, PortOf) is not { } value)
            {
                continue;
            }
            if (value.Secrets.Count == 0)
            {
                data[name] = value.Text;
                continue;
            }
            secretVars.UnionWith(value.Secrets);
            composed.Add(value.IsSingleSecret
                ? SecretEnv(name, value.Secrets.First())
                : new V1EnvVar { Name = name, Value = value.Text });
        }

        var env = secretVars.Select(p => SecretEnv(AspireManifest.SecretEnvName(p), p))
            .Concat(data.Keys.Select(key => new V1EnvVar
            {
                Name = key,
                ValueFrom = new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Key = key, Name = configName } },
            }))
            .Concat(composed)
            .ToList();
        var configMap = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = Metadata(configName, resource),
            Data = data,
        };
        return (configMap, env);
    }

    private static V1EnvVar SecretEnv(string name, string parameter) =>
        new()
        {
            Name = name,
            ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Key = parameter, Name = SecretName } },
        };

    private V1Secret Secrets() => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = Metadata(SecretName, PartOf),
        Type = "Opaque",
        // Placeholders only: operators supply real values (see docs/deploy.md); nothing secret is committed.
        StringData = manifest.ResourcesOfType("parameter.v0").Where(manifest.IsSecretParameter)
            .Order(StringComparer.Ordinal)
            .ToDictionary(p => p, _ => "replace-me"),
    };

    private static V1Deployment ProjectDeployment(string project, List<V1EnvVar> env, ServiceScaling scaling) => new()
    {
        ApiVersion = "apps/v1",
        Kind = "Deployment",
        Metadata = Metadata(project, project),
        Spec = new V1DeploymentSpec
        {
            // The autoscaler's floor: re-applying the manifests resets a scaled-out Deployment to it, and the
            // autoscaler scales it out again within a sync period (see docs/deploy.md).
            Replicas = scaling.MinReplicas,
            Selector = new V1LabelSelector { MatchLabels = SelectorLabels(project) },
            Strategy = new V1DeploymentStrategy
            {
                Type = "RollingUpdate",
                RollingUpdate = new V1RollingUpdateDeployment { MaxUnavailable = 0, MaxSurge = 1 },
            },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta
                {
                    Labels = Labels(project),
                    Annotations = new Dictionary<string, string>
                    {
                        ["prometheus.io/scrape"] = "true",
                        ["prometheus.io/port"] = HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        ["prometheus.io/path"] = MetricsPath,
                    },
                },
                Spec = new V1PodSpec
                {
                    AutomountServiceAccountToken = false,
                    TerminationGracePeriodSeconds = TerminationGracePeriodSeconds,
                    TopologySpreadConstraints = SpreadConstraints(project),
                    SecurityContext = NonRootPod(DotnetAppUser),
                    Containers =
                    [
                        new V1Container
                        {
                            Name = project,
                            Image = $"{ImagePrefix}{project}:latest",
                            Ports = [new V1ContainerPort { ContainerPort = HttpPort, Name = "http", Protocol = "TCP" }],
                            Env = env,
                            ReadinessProbe = HttpProbe(ReadinessPath, periodSeconds: 10),
                            LivenessProbe = HttpProbe(LivenessPath, periodSeconds: 20),
                            StartupProbe = HttpProbe(LivenessPath, periodSeconds: 2, failureThreshold: 60),
                            // The autoscaler's CPU utilization is measured against the request.
                            Resources = Resources("100m", "192Mi", "1", "512Mi"),
                            // Kubernetes' own sleep (1.30+): the images need no shell or sleep binary.
                            Lifecycle = new V1Lifecycle
                            {
                                PreStop = new V1LifecycleHandler { Sleep = new V1SleepAction { Seconds = PreStopSeconds } },
                            },
                            SecurityContext = RestrictedContainer(readOnlyRoot: true),
                            // A read-only root file system still needs a scratch folder for the runtime.
                            VolumeMounts = [new V1VolumeMount { MountPath = "/tmp", Name = "tmp" }],
                        },
                    ],
                    Volumes = [new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() }],
                },
            },
        },
    };

    private static List<V1TopologySpreadConstraint> SpreadConstraints(string project) =>
        SpreadTopologyKeys.Select(key => new V1TopologySpreadConstraint
        {
            MaxSkew = 1,
            TopologyKey = key,
            WhenUnsatisfiable = "ScheduleAnyway",
            LabelSelector = new V1LabelSelector { MatchLabels = SelectorLabels(project) },
            // Counts only the pods of the same revision, so a rolling update spreads the new pods too.
            MatchLabelKeys = ["pod-template-hash"],
        }).ToList();

    /// <summary>Scales the Deployment on CPU utilization (of the requests); scales in one pod a minute at most.</summary>
    private static V2HorizontalPodAutoscaler Autoscaler(string project, ServiceScaling scaling) => new()
    {
        ApiVersion = "autoscaling/v2",
        Kind = "HorizontalPodAutoscaler",
        Metadata = Metadata(project, project),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = project },
            MinReplicas = scaling.MinReplicas,
            MaxReplicas = scaling.MaxReplicas,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Resource",
                    Resource = new V2ResourceMetricSource
                    {
                        Name = "cpu",
                        Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = scaling.TargetCpuPercent },
                    },
                },
            ],
            Behavior = new V2HorizontalPodAutoscalerBehavior
            {
                ScaleDown = new V2HPAScalingRules
                {
                    StabilizationWindowSeconds = 300,
                    Policies = [new V2HPAScalingPolicy { Type = "Pods", Value = 1, PeriodSeconds = 60 }],
                },
            },
        },
    };

    /// <summary>
    /// Voluntary disruptions (node drains, cluster upgrades) take one pod of a service at a time; a pod that is not
    /// ready may always be evicted, so a broken pod never blocks a drain.
    /// </summary>
    private static V1PodDisruptionBudget DisruptionBudget(string project) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Metadata(project, project),
        Spec = new V1PodDisruptionBudgetSpec
        {
            MaxUnavailable = 1,
            Selector = new V1LabelSelector { MatchLabels = SelectorLabels(project) },
            UnhealthyPodEvictionPolicy = "AlwaysAllow",
        },
    };

    private static V1Service HttpService(string project) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Metadata(project, project),
        Spec = new V1ServiceSpec
        {
            Selector = SelectorLabels(project),
            Ports = [new V1ServicePort { Port = HttpPort, Name = "http", Protocol = "TCP", TargetPort = "http" }],
        },
    };

    private V1StatefulSet ContainerStatefulSet(string container, List<V1EnvVar> env)
    {
        var volumes = manifest[container].TryGetProperty("volumes", out var v) ? v.EnumerateArray().ToList() : [];
        return new V1StatefulSet
        {
            ApiVersion = "apps/v1",
            Kind = "StatefulSet",
            Metadata = Metadata(container, container),
            Spec = new V1StatefulSetSpec
            {
                ServiceName = container,
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = SelectorLabels(container) },
                Template = BackingPodTemplate(container, PostgresUser,
                    BackingContainer(container, env,
                        readiness: IsPostgres(container)
                            ? new V1Probe
                            {
                                Exec = new V1ExecAction { Command = ["pg_isready", "-U", "postgres", "-h", "127.0.0.1"] },
                                PeriodSeconds = 10,
                            }
                            : TcpProbe(periodSeconds: 10),
                        Resources("250m", "256Mi", "2", "1Gi"), readOnlyRoot: false,
                        [.. volumes.Select((volume, i) => new V1VolumeMount { MountPath = volume.GetProperty("target").GetString(), Name = VolumeName(i) })])),
                VolumeClaimTemplates = volumes.Select((_, i) => new V1PersistentVolumeClaim
                {
                    ApiVersion = "v1",
                    Kind = "PersistentVolumeClaim",
                    Metadata = new V1ObjectMeta { Name = VolumeName(i), Labels = Labels(container) },
                    Spec = new V1PersistentVolumeClaimSpec
                    {
                        AccessModes = ["ReadWriteOnce"],
                        Resources = new V1VolumeResourceRequirements
                        {
                            Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("10Gi") },
                        },
                    },
                }).ToList(),
            },
        };
    }

    /// <summary>
    /// A container that keeps nothing (Redis: counters that rebuild as clients write): one pod, replaced rather than
    /// doubled on a rollout (two would split the counters), a read-only root with a scratch folder for its working data.
    /// </summary>
    private V1Deployment ContainerDeployment(string container, List<V1EnvVar> env)
    {
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Metadata(container, container),
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = SelectorLabels(container) },
                Strategy = new V1DeploymentStrategy { Type = "Recreate" },
                Template = BackingPodTemplate(container, RedisUser,
                    BackingContainer(container, env, readiness: TcpProbe(periodSeconds: 10), Resources("100m", "64Mi", "1", "256Mi"), readOnlyRoot: true,
                        [new V1VolumeMount { MountPath = "/data", Name = "data" }]),
                    volumes: [new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource() }]),
            },
        };
    }

    /// <summary>A backing service's pod: its one container, run as the image's own non-root user, with no service account token.</summary>
    private static V1PodTemplateSpec BackingPodTemplate(string container, long user, V1Container main, List<V1Volume>? volumes = null) => new()
    {
        Metadata = new V1ObjectMeta { Labels = Labels(container) },
        Spec = new V1PodSpec
        {
            AutomountServiceAccountToken = false,
            SecurityContext = NonRootPod(user),
            Containers = [main],
            Volumes = volumes,
        },
    };

    private static string VolumeName(int index) => index == 0 ? "data" : $"data-{index}";

    /// <summary>
    /// A StatefulSet's pod is reached by the service name with no virtual IP in between (headless); a Deployment's
    /// through a stable virtual IP, so clients keep their address when the pod is replaced.
    /// </summary>
    private V1Service ContainerService(string container) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Metadata(container, container),
        Spec = new V1ServiceSpec
        {
            ClusterIP = IsStateful(container) ? "None" : null,
            Selector = SelectorLabels(container),
            Ports = [new V1ServicePort { Port = PortOf(container), Name = "tcp", Protocol = "TCP", TargetPort = "tcp" }],
        },
    };

    /// <summary>
    /// Only the gateway reaches the outside world; every other pod talks only to the system's own pods
    /// and DNS; a container (Postgres, Redis) accepts only the projects whose settings reference it.
    /// </summary>
    private List<object> NetworkPolicies(List<string> projects, List<string> containers)
    {
        var internalOnly = projects.Where(p => p != Gateway).Concat(containers).ToList();
        var dns = new V1NetworkPolicyEgressRule
        {
            Ports = [new V1NetworkPolicyPort { Port = 53, Protocol = "UDP" }, new V1NetworkPolicyPort { Port = 53, Protocol = "TCP" }],
        };
        var ownPods = new V1NetworkPolicyEgressRule
        {
            To = [new V1NetworkPolicyPeer { PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = PartOf } } }],
        };
        var policies = new List<object>
        {
            new V1NetworkPolicy
            {
                ApiVersion = "networking.k8s.io/v1",
                Kind = "NetworkPolicy",
                Metadata = Metadata("agent33-internal-egress", PartOf),
                Spec = new V1NetworkPolicySpec
                {
                    PodSelector = new V1LabelSelector
                    {
                        MatchExpressions = [new V1LabelSelectorRequirement { Key = "app.kubernetes.io/name", OperatorProperty = "In", Values = internalOnly }],
                    },
                    PolicyTypes = ["Egress"],
                    Egress = [dns, ownPods],
                },
            },
            new V1NetworkPolicy
            {
                ApiVersion = "networking.k8s.io/v1",
                Kind = "NetworkPolicy",
                Metadata = Metadata("gateway-egress", Gateway),
                Spec = new V1NetworkPolicySpec
                {
                    PodSelector = new V1LabelSelector { MatchLabels = SelectorLabels(Gateway) },
                    PolicyTypes = ["Egress"],
                    Egress = [new V1NetworkPolicyEgressRule()], // an empty rule allows all destinations
                },
            },
        };
        foreach (var container in containers)
        {
            policies.Add(new V1NetworkPolicy
            {
                ApiVersion = "networking.k8s.io/v1",
                Kind = "NetworkPolicy",
                Metadata = Metadata($"{container}-ingress", container),
                Spec = new V1NetworkPolicySpec
                {
                    PodSelector = new V1LabelSelector { MatchLabels = SelectorLabels(container) },
                    PolicyTypes = ["Ingress"],
                    Ingress =
                    [
                        new V1NetworkPolicyIngressRule
                        {
                            // Postgres: the learning service, and the gateway (its own database, LLM spend); Redis: every service.
                            FromProperty = ClientsOf(container)
                                .Select(client => new V1NetworkPolicyPeer { PodSelector = new V1LabelSelector { MatchLabels = SelectorLabels(client) } })
                                .ToList(),
                            Ports = [new V1NetworkPolicyPort { Port = PortOf(container), Protocol = "TCP" }],
                        },
                    ],
                },
            });
        }
        return policies;
    }

    private static V1Probe HttpProbe(string path, int periodSeconds, int failureThreshold = 3) => new()
    {
        HttpGet = new V1HTTPGetAction { Port = "http", Path = path },
        PeriodSeconds = periodSeconds,
        FailureThreshold = failureThreshold,
        TimeoutSeconds = 5,
    };

    /// <summary>A backing service's container (Postgres, Redis) from the Aspire manifest: its image, command, port and environment.</summary>
    private V1Container BackingContainer(string container, List<V1EnvVar> env, V1Probe readiness, V1ResourceRequirements resources,
        bool readOnlyRoot, List<V1VolumeMount> mounts)
    {
        var (command, args) = CommandOf(container);
        return new V1Container
        {
            Name = container,
            Image = manifest[container].GetProperty("image").GetString(),
            Command = command,
            Args = args,
            Ports = [new V1ContainerPort { ContainerPort = PortOf(container), Name = "tcp", Protocol = "TCP" }],
            Env = env,
            ReadinessProbe = readiness,
            LivenessProbe = TcpProbe(periodSeconds: 20),
            Resources = resources,
            SecurityContext = RestrictedContainer(readOnlyRoot),
            VolumeMounts = mounts,
        };
    }

    private static V1Probe TcpProbe(int periodSeconds) => new() { TcpSocket = new V1TCPSocketAction { Port = "tcp" }, PeriodSeconds = periodSeconds };

    private static V1PodSecurityContext NonRootPod(long user) => new()
    {
        RunAsNonRoot = true,
        RunAsUser = user,
        RunAsGroup = user,
        FsGroup = user,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    private static V1ResourceRequirements Resources(string cpuRequest, string memoryRequest, string cpuLimit, string memoryLimit) => new()
    {
        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(cpuRequest), ["memory"] = new(memoryRequest) },
        Limits = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(cpuLimit), ["memory"] = new(memoryLimit) },
    };

    private static V1SecurityContext RestrictedContainer(bool readOnlyRoot) => new()
    {
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = readOnlyRoot,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };

    public static Dictionary<string, string> SelectorLabels(string name) => new()
    {
        ["app.kubernetes.io/name"] = name,
        ["app.kubernetes.io/part-of"] = PartOf,
    };

    private static Dictionary<string, string> Labels(string name) => new(SelectorLabels(name))
    {
        ["app.kubernetes.io/managed-by"] = "agent33-deploy",
    };

    private static V1ObjectMeta Metadata(string name, string component) => new() { Name = name, Labels = Labels(component) };
}

public sealed record GeneratedFile(string Name, IReadOnlyList<object> Objects);

/// <summary>A service's pod count: the autoscaler's floor and ceiling, and the CPU utilization it keeps pods at.</summary>
public sealed record ServiceScaling(int MinReplicas, int MaxReplicas, int TargetCpuPercent);
