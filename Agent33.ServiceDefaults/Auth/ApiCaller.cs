using System.Security.Claims;
using System.Text.RegularExpressions;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.ServiceDefaults.Auth;

/// <summary>Who is calling: the key's tenant and scopes.</summary>
public sealed record ApiCaller(string Tenant, IReadOnlySet<string> Scopes)
{
    public bool IsAdmin => Has(Auth.Scopes.Admin);

    /// <summary>A service acting for its callers (the <c>service</c> scope): it may name any tenant, and is no admin.</summary>
    public bool IsService => Has(Auth.Scopes.Service);

    /// <summary>Whether the key may act for a tenant other than its own: admins and services.</summary>
    public bool MayActForAnyTenant => IsAdmin || IsService;

    public bool Has(string scope)
    {
        foreach (var held in Scopes)
        {
            if (Auth.Scopes.Grants(held, scope))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The caller a principal stands for, read once per principal: a key's principal is built once and never changed.</summary>
    public static ApiCaller From(ClaimsPrincipal user) => Callers.GetValue(user, static principal => new(
        principal.FindFirst(ApiKeyAuthentication.TenantClaim)?.Value ?? "",
        principal.FindAll(ApiKeyAuthentication.ScopeClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal)));

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClaimsPrincipal, ApiCaller> Callers = new();

    public static ApiCaller From(HttpContext context) => From(context.User);

    /// <summary>
    /// The tenant a request acts on: the key's own when none is named; another only for admin and service keys.
    /// Returns the problem to answer when the name is invalid or not the caller's to use.
    /// </summary>
    public TenantResolution ResolveTenant(string? requested)
    {
        if (string.IsNullOrWhiteSpace(requested))
        {
            return new TenantResolution(Tenant, null);
        }
        var name = requested.Trim();
        if (!TenantNames.IsValid(name))
        {
            return new TenantResolution(null, ApiProblem.BadRequest("invalid_tenant", TenantNames.Rule));
        }
        return MayActFor(name) ? new TenantResolution(name, null) : new TenantResolution(null, CrossTenantDenied(name));
    }

    /// <summary>Whether the key may act for <paramref name="tenant"/>: its own tenant, or any tenant for admin and service keys.</summary>
    public bool MayActFor(string tenant) => tenant == Tenant || MayActForAnyTenant;

    /// <summary>The contract's 403 for a key that named a tenant not its own.</summary>
    public ProblemHttpResult CrossTenantDenied(string tenant) => ApiProblem.Forbidden("cross_tenant_denied",
        $"This API key belongs to tenant '{Tenant}' and may not act for tenant '{tenant}'.");
}

public sealed record TenantResolution(string? Tenant, ProblemHttpResult? Problem);

public static partial class TenantNames
{
    public const string Rule = "A tenant name is 1-64 characters: letters, digits, '.', '_', '-' or ':', starting with a letter or digit.";

    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    private static partial Regex Pattern();
}
