namespace Agent33.AppHost.Postgres;

/// <summary>Finds the machine's PostgreSQL server binaries and a data folder the server may own.</summary>
public static class LocalPostgresBinaries
{
    /// <summary>The folder holding <c>initdb</c> and <c>postgres</c>: PATH first, then Debian's versioned folders, newest first.</summary>
    public static string? Find()
    {
        var fromPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin"))
            : [];
        var dir = fromPath.Concat(debian).FirstOrDefault(d =>
            File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "postgres")));
        if (dir is null)
        {
            return null;
        }
        // PATH often holds symlinks to one server's folder; that folder also has pg_isready and psql.
        var initdb = new FileInfo(Path.Combine(dir, "initdb"));
        return initdb.ResolveLinkTarget(returnFinalTarget: true) is { } target
            ? Path.GetDirectoryName(target.FullName)
            : dir;
    }

    /// <summary>
    /// Where a local cluster lives between runs. PostgreSQL refuses to run as root, so as root the
    /// server runs as the <c>postgres</c> user, which cannot enter root's home: use /var/lib then.
    /// </summary>
    public static string DefaultDataDirectory() =>
        Environment.UserName == "root"
            ? "/var/lib/agent33/postgres"
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "agent33", "postgres");
}
