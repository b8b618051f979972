using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Agent33.ServiceDefaults.Auth;

/// <summary>
/// The authentication service with the API-key scheme answered straight from <see cref="ApiKeyStore"/> — the result
/// the scheme's handler returns — without building a handler and a new ticket for every request (a gateway's most
/// frequent cost after its sockets). Challenges, forbids and any other scheme go through the handlers as before; with
/// a claims transformation registered, authentication goes the framework's whole way.
/// </summary>
internal sealed class ApiKeyAuthenticationService(
    IAuthenticationSchemeProvider schemes, IAuthenticationHandlerProvider handlers, IClaimsTransformation transform,
    IOptions<AuthenticationOptions> options, ApiKeyStore keys)
    : AuthenticationService(schemes, handlers, transform, options)
{
    private readonly bool _untransformed = transform is NoopClaimsTransformation;

    public override Task<AuthenticateResult> AuthenticateAsync(HttpContext context, string? scheme) =>
        _untransformed && scheme == ApiKeyAuthentication.Scheme ? keys.Authenticate(context.Request) : base.AuthenticateAsync(context, scheme);
}

/// <summary>
/// Authorization that answers a policy of scope requirements (and "authenticated") by the scopes' own rule
/// (<see cref="ApiCaller.Has"/>, what <see cref="ScopeRequirementHandler"/> asks) when every requirement is held — no
/// handler context, handler list or evaluation per request. Anything else (a requirement not held, which needs the
/// handler's answer for its message; another kind of requirement; a service with other handlers) goes to the
/// framework's service, which decides as before.
/// </summary>
internal sealed class ScopeAuthorizationService : IAuthorizationService
{
    private static readonly Task<AuthorizationResult> Succeeded = Task.FromResult(AuthorizationResult.Success());
    private readonly DefaultAuthorizationService _inner;
    private readonly bool _onlyScopeHandlers;

    public ScopeAuthorizationService(DefaultAuthorizationService inner, IEnumerable<IAuthorizationHandler> handlers)
    {
        _inner = inner;
        // A held requirement can be denied only by a handler that fails it: with none but these, none can.
        _onlyScopeHandlers = handlers.All(h => h is ScopeRequirementHandler or PassThroughAuthorizationHandler);
    }

    public Task<AuthorizationResult> AuthorizeAsync(ClaimsPrincipal user, object? resource, IEnumerable<IAuthorizationRequirement> requirements) =>
        _onlyScopeHandlers && AllHeld(user, requirements) ? Succeeded : _inner.AuthorizeAsync(user, resource, requirements);

    public Task<AuthorizationResult> AuthorizeAsync(ClaimsPrincipal user, object? resource, string policyName) =>
        _inner.AuthorizeAsync(user, resource, policyName);

    private static bool AllHeld(ClaimsPrincipal user, IEnumerable<IAuthorizationRequirement> requirements)
    {
        if (requirements is not IReadOnlyList<IAuthorizationRequirement> { Count: > 0 } list || user.Identity?.IsAuthenticated != true)
        {
            return false;
        }
        for (var i = 0; i < list.Count; i++)
        {
            var held = list[i] switch
            {
                DenyAnonymousAuthorizationRequirement => true,
                ScopeRequirement scope => ApiCaller.From(user).Has(scope.Scope),
                _ => false,
            };
            if (!held)
            {
                return false;
            }
        }
        return true;
    }
}
