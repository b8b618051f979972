namespace Agent33.Testing;

/// <summary>The reference engine's recorded data in <c>../shared/fixtures/reference</c>, next to the repository.</summary>
public static class ReferenceFixtures
{
    public static string Directory { get; } = Path.Combine(RepositoryRoot(), "..", "shared", "fixtures", "reference");

    public static string PathOf(params string[] parts) => Path.Combine([Directory, .. parts]);

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent33.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Agent33.sln not found above the test binaries.");
    }
}
