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
