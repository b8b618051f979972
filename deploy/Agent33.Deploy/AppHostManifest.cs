using System.Diagnostics;

namespace Agent33.Deploy;

/// <summary>Produces the AppHost's Aspire manifest by running its manifest publisher.</summary>
public static class AppHostManifest
{
    /// <param name="build">False when the AppHost is known to be built (tests), to skip the up-to-date check.</param>
    public static async Task<string> PublishAsync(string repositoryRoot, bool build = true, CancellationToken cancellationToken = default)
    {
        var output = Directory.CreateTempSubdirectory("agent33-manifest-").FullName;
        try
        {
            var path = Path.Combine(output, "aspire-manifest.json");
            var start = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = repositoryRoot,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in (string[])["run", "--project", "Agent33.AppHost", .. build ? Array.Empty<string>() : ["--no-build"],
                         "--", "--publisher", "manifest", "--output-path", path])
            {
                start.ArgumentList.Add(arg);
            }
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0 || !File.Exists(path))
            {
                throw new InvalidOperationException(
                    $"The AppHost's manifest publisher failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
            }
            return await File.ReadAllTextAsync(path, cancellationToken);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>The folder holding Agent33.sln, found from <paramref name="start"/> upwards.</summary>
    public static string FindRepositoryRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent33.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No Agent33.sln above {start}.");
    }

    /// <summary>Everything from one manifest: the objects, with alert thresholds from the services' settings.</summary>
    public static IReadOnlyList<GeneratedFile> Generate(string repositoryRoot, string manifestJson)
    {
        var manifest = AspireManifest.Parse(manifestJson);
        return new ManifestGenerator(manifest, AlertThresholds.FromRepository(repositoryRoot, BackupSchedule(manifest))).Generate();
    }

    /// <summary>The learning service's <c>Learning:Backups:Schedule</c> as the AppHost publishes it; null when it sets none.</summary>
    public static TimeSpan? BackupSchedule(AspireManifest manifest) =>
        manifest.ResourcesOfType("project.v0").Contains(ManifestGenerator.LearningService)
        && manifest.Env(ManifestGenerator.LearningService).TryGetValue("Learning__Backups__Schedule", out var text)
        && TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var interval)
            ? interval
            : null;
}
