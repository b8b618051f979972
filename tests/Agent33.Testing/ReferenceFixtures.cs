namespace Agent33.Testing;

/// <summary>
/// The reference engine's recorded data (routing parity corpus, legacy learning stores, backups and their broken
/// variants), kept in the repository under <c>tests/fixtures/reference</c> so the tests run wherever it is checked out.
/// </summary>
public static class ReferenceFixtures
{
    public static string Directory { get; } = Path.Combine(RepositoryRoot(), "tests", "fixtures", "reference");

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
