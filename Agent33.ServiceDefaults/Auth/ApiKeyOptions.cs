namespace Agent33.ServiceDefaults.Auth;

/// <summary>Bound from <c>Auth</c>: <c>Auth:Enabled</c> and <c>Auth:ApiKeys:&lt;n&gt;:Key|Tenant|Scopes:&lt;m&gt;</c>.</summary>
public sealed class ApiKeyOptions
{
    public const string Section = "Auth";

    public bool Enabled { get; set; } = true;

    public List<ApiKeyEntry> ApiKeys { get; set; } = [];
}

public sealed class ApiKeyEntry
{
    public string Key { get; set; } = "";

    public string Tenant { get; set; } = "";

    public List<string> Scopes { get; set; } = [];
}

/// <summary>The three scopes. <c>admin</c> includes <c>write</c>, which includes <c>read</c>.</summary>
public static class Scopes
{
    public const string Read = "read";
    public const string Write = "write";
    public const string Admin = "admin";

    public static readonly string[] All = [Read, Write, Admin];

    public static int Rank(string scope) => scope switch
    {
        Read => 1,
        Write => 2,
        Admin => 3,
        _ => 0,
    };
}
