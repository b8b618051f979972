using System.Globalization;
using System.Threading.RateLimiting;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using RedisRateLimiting;

namespace Agent33.ServiceDefaults.RateLimiting;

/// <summary>
/// Per-API-key token bucket on writes (every method but GET, HEAD, OPTIONS), so one runaway client
/// cannot starve the others. <c>RateLimiting:WritesPerSecond</c> (default 5,000) refills the bucket,
/// <c>RateLimiting:Burst</c> (default 2 × the rate) bounds it; 0 turns the limit off. Rejections are 429
/// problem+json <c>rate_limited</c> with <c>Retry-After</c>. A request marked <see cref="ChargedWrite"/> is part of a
/// write already charged and takes no token.
/// </summary>
/// <remarks>
/// With a Redis connection string <c>ConnectionStrings:ratelimit</c> (the AppHost's <c>ratelimit</c> resource) each
/// key's bucket lives in Redis under the service's name, so the limit holds for all replicas of a service together;
/// without one, each process keeps its own buckets. When Redis cannot answer, the replica's own bucket decides
/// (fail open, see <see cref="RedisRateLimitStore"/>).
/// </remarks>
public static class WriteRateLimiting
{
    public const string Section = "RateLimiting";

    /// <summary>The connection string name (<c>ConnectionStrings:ratelimit</c>) Aspire's WithReference injects.</summary>
    public const string ConnectionName = "ratelimit";

    public static IServiceCollection AddWriteRateLimiting(this IServiceCollection services, IConfiguration configuration, string applicationName)
    {
        var perSecond = configuration.GetValue($"{Section}:WritesPerSecond", 5_000);
        var burst = configuration.GetValue($"{Section}:Burst", perSecond * 2);
        if (perSecond < 0 || burst < 0)
        {
            throw new InvalidOperationException($"{Section}:WritesPerSecond and {Section}:Burst must not be negative.");
        }
        var connectionString = configuration.GetConnectionString(ConnectionName);
        var shared = perSecond > 0 && !string.IsNullOrWhiteSpace(connectionString);
        if (shared)
        {
            services.AddMetrics();
            services.AddSingleton(sp => new RedisRateLimitStore(connectionString!, $"agent33:{applicationName}",
                sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), sp.GetRequiredService<ILogger<RedisRateLimitStore>>()));
            services.AddHostedService(sp => sp.GetRequiredService<RedisRateLimitStore>());
        }

        services.AddRateLimiter(options => options.OnRejected = (context, _) =>
        {
            context.HttpContext.Response.Headers.RetryAfter = RetryAfterSeconds(context.Lease).ToString(CultureInfo.InvariantCulture);
            return new ValueTask(ApiProblem.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "rate_limited",
                "Too many requests of this kind for this API key; retry after the time in Retry-After."));
        });
        services.AddOptions<RateLimiterOptions>().Configure<IServiceProvider>((options, provider) =>
        {
            var store = shared ? provider.GetRequiredService<RedisRateLimitStore>() : null;
            store?.Connect(); // also when no host starts the hosted services (a bare middleware pipeline)
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                // The method first: reads are never limited, and this runs on every request.
                var method = context.Request.Method;
                if (perSecond == 0 || HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
                    || context.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value is not { } keyId
                    || context.Features.Get<ChargedWrite>() is not null)
                {
                    return RateLimitPartition.GetNoLimiter("unlimited");
                }
                // The factory runs once per key (the partitioned limiter caches the bucket), so nothing here allocates per request.
                return store is null
                    ? RateLimitPartition.GetTokenBucketLimiter(keyId, _ => LocalOptions(Math.Max(burst, 1), perSecond, TimeSpan.FromSeconds(1)))
                    : RateLimitPartition.Get(keyId, key => TokenBucket(key, Math.Max(burst, 1), perSecond, TimeSpan.FromSeconds(1), store));
            });
        });
        return services;
    }

    /// <summary>
    /// A token bucket under <paramref name="key"/> (within the store's scope): shared by every replica through Redis
    /// when a store is given (this replica's own bucket deciding while the store cannot), else this process's own.
    /// The one way the services build a rate limit, for write limits and any other.
    /// </summary>
    public static RateLimiter TokenBucket(string key, int tokenLimit, int tokensPerPeriod, TimeSpan period, RedisRateLimitStore? store)
    {
        var local = new TokenBucketRateLimiter(LocalOptions(tokenLimit, tokensPerPeriod, period));
        return store is null
            ? local
            : new SharedTokenBucket($"{store.Scope}:{key}", new RedisTokenBucketRateLimiterOptions
            {
                TokenLimit = tokenLimit,
                TokensPerPeriod = tokensPerPeriod,
                ReplenishmentPeriod = period,
            }, local, store);
    }

    private static TokenBucketRateLimiterOptions LocalOptions(int tokenLimit, int tokensPerPeriod, TimeSpan period) => new()
    {
        TokenLimit = tokenLimit,
        TokensPerPeriod = tokensPerPeriod,
        ReplenishmentPeriod = period,
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>Whole seconds, at least 1: the in-process bucket reports a TimeSpan, the Redis bucket whole seconds.</summary>
    public static int RetryAfterSeconds(RateLimitLease lease)
    {
        if (lease.TryGetMetadata(MetadataName.RetryAfter, out var wait))
        {
            return Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        }
        if (lease.TryGetMetadata(RateLimitMetadataName.RetryAfter, out var seconds))
        {
            return Math.Max(1, seconds);
        }
        return 1;
    }
}
