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

/// <summary>
/// The four scopes. <c>admin</c> includes <c>write</c>, which includes <c>read</c>. <c>service</c> is the key
/// of a service acting for its callers (the gateway asking routing for a decision, a service posting learning
/// signals): it includes <c>write</c> and <c>read</c> and may name any tenant, but it is never <c>admin</c>
/// (no backup, restore, import, quarantine, circuit reset, nor reading every tenant at once).
/// </summary>
public static class Scopes
{
    public const string Read = "read";
    public const string Write = "write";
    public const string Admin = "admin";
    public const string Service = "service";

    public static readonly string[] All = [Read, Write, Admin, Service];

    public static bool IsKnown(string scope) => Implied(scope).Length > 0;

    /// <summary>Whether a key holding <paramref name="held"/> may do what <paramref name="needed"/> allows.</summary>
    public static bool Grants(string held, string needed) => Array.IndexOf(Implied(held), needed) >= 0;

    // Arrays built once: every authorized request asks.
    private static readonly string[] ReadImplies = [Read], WriteImplies = [Read, Write], AdminImplies = [Read, Write, Admin],
        ServiceImplies = [Read, Write, Service];

    private static string[] Implied(string scope) => scope switch
    {
        Read => ReadImplies,
        Write => WriteImplies,
        Admin => AdminImplies,
        Service => ServiceImplies,
        _ => [],
    };
}
