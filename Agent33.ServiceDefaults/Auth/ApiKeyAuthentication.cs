using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agent33.ServiceDefaults.Auth;

public static class ApiKeyAuthentication
{
    public const string Scheme = "ApiKey";
    public const string TenantClaim = "tenant";
    public const string ScopeClaim = "scope";

    /// <summary>A short, non-reversible id of the key (a hash prefix), for rate limiting and audit.</summary>
    public const string KeyIdClaim = "key_id";
    public const string HeaderName = "X-Api-Key";

    /// <summary>
    /// API-key authentication with tenant and scopes, and the authorization policies
    /// <c>read</c>, <c>write</c>, <c>admin</c>, <c>service</c> (see <see cref="Scopes"/>). Every endpoint needs a key
    /// unless it says otherwise.
    /// </summary>
    public static IHostApplicationBuilder AddApiKeyAuthentication(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiKeyOptions>()
            .Bind(builder.Configuration.GetSection(ApiKeyOptions.Section))
            .Validate(o => !o.Enabled || o.ApiKeys.All(k => !string.IsNullOrWhiteSpace(k.Key)), "Auth:ApiKeys:<n>:Key must not be empty.")
            .Validate(o => !o.Enabled || o.ApiKeys.All(k => TenantNames.IsValid(k.Tenant)), "Auth:ApiKeys:<n>:Tenant must be a valid tenant name (letters, digits, '.', '_', '-', ':'; at most 64).")
            .Validate(o => o.ApiKeys.SelectMany(k => k.Scopes).All(Scopes.IsKnown), "Auth:ApiKeys:<n>:Scopes:<m> must be one of read, write, admin, service.")
            .ValidateOnStart();
        builder.Services.AddSingleton<ApiKeyStore>();

        builder.Services.AddAuthentication(Scheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(Scheme, null);
        builder.Services.AddAuthorizationBuilder()
            // No scheme named: the middleware's authentication (the default scheme) is used as it is. Naming the scheme
            // would authenticate again for every request and copy the principal.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Scopes.Read, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(Scopes.Read)))
            .AddPolicy(Scopes.Write, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(Scopes.Write)))
            .AddPolicy(Scopes.Admin, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(Scopes.Admin)))
            .AddPolicy(Scopes.Service, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(Scopes.Service)));
        builder.Services.AddSingleton<IAuthorizationHandler, ScopeRequirementHandler>();
        // The same decisions, made without per-request machinery (FastAdmission.cs).
        builder.Services.AddScoped<IAuthenticationService, ApiKeyAuthenticationService>();
        // One instance: every handler here is a singleton, so nothing needs building per request.
        builder.Services.AddSingleton(sp => new ScopeAuthorizationService(
            ActivatorUtilities.CreateInstance<DefaultAuthorizationService>(sp), sp.GetServices<IAuthorizationHandler>()));
        builder.Services.AddSingleton<IAuthorizationService>(sp => sp.GetRequiredService<ScopeAuthorizationService>());
        return builder;
    }
}

/// <summary>
/// Keys are compared by SHA-256 hash in constant time; the plain keys are never kept or logged. The authentication
/// handler asks it, and so may a path that serves its requests before the shared middleware (the gateway's connector calls).
/// </summary>
public sealed class ApiKeyStore
{
    private readonly (byte[] Hash, Task<AuthenticateResult> Result)[] _keys;

    public ApiKeyStore(IOptions<ApiKeyOptions> options)
    {
        Enabled = options.Value.Enabled;
        // Each key's authentication result is built once: nothing changes a principal after authentication, and
        // building claims on every request was a good part of the gateway's per-call cost.
        _keys = [.. options.Value.ApiKeys
            .Select(entry => (Hash: SHA256.HashData(Encoding.UTF8.GetBytes(entry.Key)), Entry: entry))
            .DistinctBy(k => Convert.ToHexString(k.Hash)) // as before: a key configured twice counts once
            .Select(k => (k.Hash, Task.FromResult(Success(k.Entry.Tenant, k.Entry.Scopes, Convert.ToHexString(k.Hash)[..12]))))];
    }

    public bool Enabled { get; }

    /// <summary>With auth off (local experiments only) every caller is an admin of the <c>default</c> tenant.</summary>
    public static readonly Task<AuthenticateResult> AuthOff = Task.FromResult(Success(ApiKeyAuthenticationHandler.AuthOffTenant, Scopes.All, keyId: "auth-off"));

    public static AuthenticateResult Success(string tenant, IEnumerable<string> scopes, string keyId)
    {
        // The key's id is also the caller's name: what binds a stateful session (MCP's) to the key that opened it.
        var claims = new List<Claim> { new(ApiKeyAuthentication.TenantClaim, tenant), new(ApiKeyAuthentication.KeyIdClaim, keyId), new(ClaimTypes.NameIdentifier, keyId) };
        claims.AddRange(scopes.Select(s => new Claim(ApiKeyAuthentication.ScopeClaim, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, ApiKeyAuthentication.Scheme));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, ApiKeyAuthentication.Scheme));
    }

    /// <summary>
    /// The request's key, judged: success with the key's principal, no result without a key, failure for an unknown one.
    /// </summary>
    public Task<AuthenticateResult> Authenticate(HttpRequest request)
    {
        if (!Enabled)
        {
            return AuthOff;
        }

        var authorization = request.Headers.Authorization is { Count: 1 } single ? single[0] : null;
        if (authorization is not null && Accepted(authorization) is { } known)
        {
            return known;
        }
        var presented = ReadKey(request);
        if (presented is null)
        {
            return NoKey;
        }
        if (Find(presented) is not { } found)
        {
            return UnknownKey;
        }
        if (authorization?.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) == true)
        {
            Accept(authorization, found); // the key came from this header
        }
        return found;
    }

    private static readonly Task<AuthenticateResult> NoKey = Task.FromResult(AuthenticateResult.NoResult());
    private static readonly Task<AuthenticateResult> UnknownKey = Task.FromResult(AuthenticateResult.Fail("Unknown API key."));

    private static string? ReadKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = header["Bearer ".Length..].Trim();
            return token.Length > 0 ? token : null;
        }
        var apiKey = request.Headers[ApiKeyAuthentication.HeaderName].ToString().Trim();
        return apiKey.Length > 0 ? apiKey : null;
    }

    /// <summary>
    /// <c>Authorization</c> header strings that carried a valid key, by reference, never by content. Kestrel hands a
    /// keep-alive connection the same string for a header value that did not change, so a caller's next request is
    /// known without hashing its key again. An entry goes when its string does (the connection that read it is gone);
    /// only accepted keys are added, so a caller without one cannot grow the table.
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<string, Task<AuthenticateResult>> _accepted = new();

    private Task<AuthenticateResult>? Accepted(string authorizationHeader) => _accepted.TryGetValue(authorizationHeader, out var result) ? result : null;

    private void Accept(string authorizationHeader, Task<AuthenticateResult> result) => _accepted.AddOrUpdate(authorizationHeader, result);

    /// <summary>The result for a presented key, or null; every stored hash is compared, in constant time.</summary>
    private Task<AuthenticateResult>? Find(string key)
    {
        // Hashed on the stack: this runs on every request.
        Span<byte> presented = stackalloc byte[SHA256.HashSizeInBytes];
        var length = Encoding.UTF8.GetMaxByteCount(key.Length);
        var rented = length <= 512 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        Span<byte> utf8 = rented ?? stackalloc byte[512];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(key, utf8)], presented);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
        Task<AuthenticateResult>? found = null;
        foreach (var (hash, result) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, presented))
            {
                found = result;
            }
        }
        return found;
    }
}

internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>With auth off (local experiments only) every caller is an admin of the <c>default</c> tenant.</summary>
    public const string AuthOffTenant = "default";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => keys.Authenticate(Request);

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return ApiProblem.WriteAsync(Context, StatusCodes.Status401Unauthorized, "unauthenticated",
            $"A valid API key is required (Authorization: Bearer <key> or {ApiKeyAuthentication.HeaderName}).");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var needed = Context.Items[ScopeRequirementHandler.NeededScopeItem] as string;
        return ApiProblem.WriteAsync(Context, StatusCodes.Status403Forbidden, "forbidden",
            needed is null ? "The API key lacks the scope this route needs." : $"The API key lacks the '{needed}' scope this route needs.");
    }
}

internal sealed record ScopeRequirement(string Scope) : IAuthorizationRequirement;

internal sealed class ScopeRequirementHandler : AuthorizationHandler<ScopeRequirement>
{
    public const string NeededScopeItem = "needed_scope";

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (ApiCaller.From(context.User).Has(requirement.Scope))
        {
            context.Succeed(requirement);
        }
        else if (context.Resource is HttpContext http)
        {
            http.Items[NeededScopeItem] = requirement.Scope;
        }
        return Task.CompletedTask;
    }
}
