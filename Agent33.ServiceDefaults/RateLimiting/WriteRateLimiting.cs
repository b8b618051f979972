using System.Globalization;
using System.Threading.RateLimiting;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.ServiceDefaults.RateLimiting;

/// <summary>
/// Per-API-key token bucket on writes (every method but GET, HEAD, OPTIONS), so one runaway client
/// cannot starve the others. <c>RateLimiting:WritesPerSecond</c> (default 5,000) refills the bucket,
/// <c>RateLimiting:Burst</c> (default 2 × the rate) bounds it; 0 turns the limit off. Rejections are 429
/// problem+json <c>rate_limited</c> with <c>Retry-After</c>.
/// </summary>
public static class WriteRateLimiting
{
    public const string Section = "RateLimiting";

    public static IServiceCollection AddWriteRateLimiting(this IServiceCollection services, IConfiguration configuration)
    {
        var perSecond = configuration.GetValue($"{Section}:WritesPerSecond", 5_000);
        var burst = configuration.GetValue($"{Section}:Burst", perSecond * 2);
        if (perSecond < 0 || burst < 0)
        {
            throw new InvalidOperationException($"{Section}:WritesPerSecond and {Section}:Burst must not be negative.");
        }

        return services.AddRateLimiter(options =>
        {
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                // The method first: reads are never limited, and this runs on every request.
                var method = context.Request.Method;
                if (perSecond == 0 || HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
                    || context.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value is not { } keyId)
                {
                    return RateLimitPartition.GetNoLimiter("unlimited");
                }
                return RateLimitPartition.GetTokenBucketLimiter(keyId, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(burst, 1),
                    TokensPerPeriod = perSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            options.OnRejected = (context, _) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                context.HttpContext.Response.Headers.RetryAfter =
                    Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return new ValueTask(ApiProblem.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "rate_limited",
                    "Too many write requests for this API key; retry after the time in Retry-After."));
            };
        });
    }
}
