using Agent33.Deploy;

// Regenerates deploy/k8s from the AppHost. Usage: dotnet run --project deploy/Agent33.Deploy [-- --manifest <aspire-manifest.json>]
var root = AppHostManifest.FindRepositoryRoot(Directory.GetCurrentDirectory());
var manifestArg = Array.IndexOf(args, "--manifest");
var manifest = manifestArg >= 0
    ? await File.ReadAllTextAsync(args[manifestArg + 1])
    : await AppHostManifest.PublishAsync(root);

var files = AppHostManifest.Generate(root, manifest);
var output = Path.Combine(root, "deploy", "k8s");
KubernetesFiles.Write(files, output);
Console.WriteLine($"Wrote {files.Count} files to {Path.GetRelativePath(root, output)}: {string.Join(", ", files.Select(f => f.Name))}");

// The same dashboards as plain files, to import into a Grafana without the sidecar.
var dashboards = Agent33.Deploy.Dashboards.DashboardFiles.Write(files, root);
Console.WriteLine($"Wrote {dashboards.Count} dashboards to {Agent33.Deploy.Dashboards.DashboardFiles.Folder}: {string.Join(", ", dashboards)}");
