using k8s;

namespace Agent33.Deploy;

/// <summary>Writes and reads the generated YAML files.</summary>
public static class KubernetesFiles
{
    public const string Header = "# Generated from the AppHost by deploy/Agent33.Deploy — do not edit; run deploy/generate.sh.\n";

    public static string Render(GeneratedFile file) =>
        Header + string.Join("---\n", file.Objects.Select(o => KubernetesYaml.Serialize(o).TrimEnd('\n') + "\n"));

    /// <summary>Writes every file and removes generated files that no longer belong.</summary>
    public static void Write(IReadOnlyList<GeneratedFile> files, string directory)
    {
        Directory.CreateDirectory(directory);
        var wanted = files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in Directory.GetFiles(directory, "*.yaml").Where(f => !wanted.Contains(Path.GetFileName(f))))
        {
            File.Delete(stale);
        }
        foreach (var file in files)
        {
            File.WriteAllText(Path.Combine(directory, file.Name), Render(file));
        }
    }
}
