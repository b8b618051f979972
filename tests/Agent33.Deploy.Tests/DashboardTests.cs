using System.Text.Json;
using Agent33.Deploy;
using Agent33.Deploy.Dashboards;
using k8s;
using k8s.Models;

namespace Agent33.Deploy.Tests;

/// <summary>
/// The generated Grafana dashboards as committed: in a ConfigMap Grafana's sidecar picks up, the same JSON under
/// deploy/grafana, every panel a query on a metric a service exports, and every alert rule shown by a named panel
/// that the runbook points to. (That each query returns data from the real services is RealPrometheusTests' job.)
/// </summary>
public sealed class DashboardTests
{
    private static readonly string Root = AppHostManifest.FindRepositoryRoot(AppContext.BaseDirectory);

    private static V1ConfigMap CommittedConfigMap() =>
        KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Root, "deploy", "k8s", "grafana-dashboards.yaml"))).OfType<V1ConfigMap>().Single();

    [Fact]
    public void The_config_map_is_labelled_for_the_grafana_sidecar_and_holds_the_three_dashboards()
    {
        var configMap = CommittedConfigMap();
        Assert.Equal(Dashboards.Dashboards.ConfigMapName, configMap.Metadata.Name);
        Assert.Equal("1", configMap.Metadata.Labels[Dashboards.Dashboards.SidecarLabel]);
        Assert.Equal(["agent33-gateway.json", "agent33-learning.json", "agent33-routing.json"], configMap.Data.Keys.Order());
        foreach (var (name, json) in configMap.Data)
        {
            using var dashboard = JsonDocument.Parse(json);
            Assert.Equal(Path.GetFileNameWithoutExtension(name), dashboard.RootElement.GetProperty("uid").GetString());
            Assert.True(dashboard.RootElement.GetProperty("panels").GetArrayLength() >= 5, name);
        }
    }

    [Fact]
    public void The_dashboard_files_are_the_config_maps_dashboards_byte_for_byte()
    {
        var folder = Path.Combine(Root, "deploy", "grafana");
        var files = Directory.GetFiles(folder, "*.json").ToDictionary(f => Path.GetFileName(f), File.ReadAllText);
        Assert.Equal(CommittedConfigMap().Data.OrderBy(kv => kv.Key), files.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Every_panel_queries_prometheus_through_the_datasource_variable_and_ids_are_unique()
    {
        foreach (var dashboard in Dashboards.Dashboards.Build(AlertThresholds.Defaults))
        {
            Assert.Equal(dashboard.Panels.Count, dashboard.Panels.Select(p => p.Id).Distinct().Count());
            Assert.All(dashboard.Panels.Where(p => p.Type != "row"), panel =>
            {
                Assert.NotEmpty(panel.Targets!);
                Assert.All(panel.Targets!, t => Assert.Equal("${datasource}", t.Datasource.Uid));
                Assert.False(string.IsNullOrWhiteSpace(panel.Description));
            });
        }
    }

    [Fact]
    public void Every_alert_rule_has_a_panel_that_shows_it_and_the_runbook_names_that_panel()
    {
        var rules = AlertRules.Build(AlertThresholds.Defaults).Spec.Groups.SelectMany(g => g.Rules).Select(r => r.Alert).ToList();
        Assert.Equal(rules.Order(), Dashboards.Dashboards.AlertPanels.Keys.Order());
        var dashboards = Dashboards.Dashboards.Build(AlertThresholds.Defaults).ToDictionary(d => d.Uid);
        var runbook = File.ReadAllText(Path.Combine(Root, "docs", "operators", "alerts.md"));
        foreach (var (rule, (uid, panel)) in Dashboards.Dashboards.AlertPanels)
        {
            Assert.Contains(dashboards[uid].Panels, p => p.Title == panel);
            var section = runbook[runbook.IndexOf($"\n### `{rule}`\n", StringComparison.Ordinal)..];
            section = section[..(section.IndexOf("\n### ", 5, StringComparison.Ordinal) is > 0 and var end ? end : section.Length)];
            Assert.Contains($"*{panel}*", section);
            Assert.Contains(dashboards[uid].Title, section);
        }
    }
}
