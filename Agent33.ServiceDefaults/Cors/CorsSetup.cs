using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.ServiceDefaults.Cors;

/// <summary>
/// Browser access, as the reference engine wires it: a CORS preflight (<c>OPTIONS</c> with <c>Origin</c> and
/// <c>Access-Control-Request-Method</c>) is answered before authentication, since a browser never sends a key
/// with it; every other request still needs one. Origins come from <c>Cors:AllowedOrigins:&lt;n&gt;</c>, none by
/// default, and then no answer carries <c>Access-Control-Allow-Origin</c>: browsers on other origins stay out.
/// </summary>
public static class CorsSetup
{
    public const string OriginsKey = "Cors:AllowedOrigins";

    /// <summary>The reference's methods, and PATCH, which the gateway forwards.</summary>
    public static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    /// <summary>The reference's request headers, and the headers the contract lets a caller send.</summary>
    public static readonly string[] RequestHeaders =
        ["Authorization", "Content-Type", "X-Api-Key", "Idempotency-Key", "X-Connector-Operation", "X-Connector-Timeout", "X-Agent33-Domain"];

    /// <summary>The contract's response headers a browser script needs to read (paging, retries, routing outcome).</summary>
    public static readonly string[] ResponseHeaders =
        ["Link", "Location", "Retry-After", "X-Connector-Id", "X-Agent33-Effort", "X-Agent33-Effort-Source", "X-Agent33-Model"];

    /// <summary>Starlette's default, which the reference keeps: a browser may cache a preflight answer for ten minutes.</summary>
    public static readonly TimeSpan PreflightMaxAge = TimeSpan.FromMinutes(10);

    public static IServiceCollection AddBrowserCors(this IServiceCollection services)
    {
        services.AddCors();
        // Read from the final configuration (options run after every source is added, test hosts' included).
        services.AddOptions<CorsOptions>().Configure<IConfiguration>((options, configuration) =>
        {
            var origins = configuration.GetSection(OriginsKey).Get<string[]>() ?? [];
            options.AddDefaultPolicy(policy => policy
                .WithOrigins([.. origins.Select(origin => origin.Trim().TrimEnd('/')).Where(origin => origin.Length > 0)])
                .WithMethods(Methods)
                .WithHeaders(RequestHeaders)
                .WithExposedHeaders(ResponseHeaders)
                .SetPreflightMaxAge(PreflightMaxAge)); // no credentials: keys travel in headers, never in cookies
        });
        return services;
    }

    /// <summary>Before authentication, so a preflight is answered (204) without a key.</summary>
    public static IApplicationBuilder UseBrowserCors(this IApplicationBuilder app) => app.UseCors();
}
