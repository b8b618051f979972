using k8s.Models;

namespace Agent33.Deploy.Dashboards;

/// <summary>
/// <c>deploy/grafana/*.json</c>: the dashboards of the generated ConfigMap, byte for byte, for a Grafana without the
/// sidecar (import them, or provision the folder).
/// </summary>
public static class DashboardFiles
{
    public const string Folder = "deploy/grafana";

    /// <summary>The dashboards (file name → JSON) in the generated ConfigMap.</summary>
    public static IReadOnlyDictionary<string, string> Of(IEnumerable<GeneratedFile> files) =>
        files.SelectMany(f => f.Objects).OfType<V1ConfigMap>().Single(c => c.Metadata.Name == Dashboards.ConfigMapName).Data.AsReadOnly();

    /// <summary>Writes every dashboard and removes files of dashboards that no longer exist; returns the file names.</summary>
    public static IReadOnlyList<string> Write(IEnumerable<GeneratedFile> files, string repositoryRoot)
    {
        var directory = Path.Combine(repositoryRoot, Folder);
        Directory.CreateDirectory(directory);
        var dashboards = Of(files);
        foreach (var stale in Directory.GetFiles(directory, "*.json").Where(f => !dashboards.ContainsKey(Path.GetFileName(f))))
        {
            File.Delete(stale);
        }
        foreach (var (name, json) in dashboards)
        {
            File.WriteAllText(Path.Combine(directory, name), json);
        }
        return [.. dashboards.Keys.Order(StringComparer.Ordinal)];
    }
}
