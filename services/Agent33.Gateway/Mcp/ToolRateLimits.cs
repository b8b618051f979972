using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Agent33.ServiceDefaults.RateLimiting;

namespace Agent33.Gateway.Mcp;

/// <summary>
/// Per-tool rate limits per tenant: <c>Mcp:RateLimits:&lt;connector&gt;:&lt;tool&gt;</c> = calls per minute (the
/// connector id may itself hold colons: the last segment is the tool). Each (connector, tool, tenant) has a token
/// bucket of that many calls refilled evenly over the minute, shared by every gateway replica through the same Redis
/// as the write limits (<see cref="RedisRateLimitStore"/>), else this process's own. Tool names are judged in any case,
/// so <c>Search_Docs</c> draws from the bucket of <c>search_docs</c>.
/// </summary>
public sealed class ToolRateLimits : IAsyncDisposable
{
    public const string Section = "Mcp:RateLimits";

    private readonly Dictionary<(string Connector, string Tool), int> _perMinute;
    private readonly ConcurrentDictionary<(string Connector, string Tool, string Tenant), RateLimiter> _buckets = new();
    private readonly RedisRateLimitStore? _store;

    public ToolRateLimits(IConfiguration configuration, IServiceProvider services)
    {
        _store = services.GetService<RedisRateLimitStore>();
        _perMinute = [];
        var section = configuration.GetSection(Section);
        foreach (var (path, value) in section.AsEnumerable(makePathsRelative: true))
        {
            if (value is null || section.GetSection(path).GetChildren().Any())
            {
                continue; // a section on the way to a limit, not a limit
            }
            var split = path.LastIndexOf(':');
            if (split <= 0 || !int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var calls) || calls < 1)
            {
                throw new InvalidOperationException($"{Section}:{path} must be {Section}:<connector>:<tool> = a whole number of calls per minute (at least 1), not '{value}'.");
            }
            _perMinute[(path[..split], path[(split + 1)..].ToLowerInvariant())] = calls;
        }
    }

    public bool Any => _perMinute.Count > 0;

    /// <summary>
    /// Takes one call from the bucket of every limited tool the request calls; the time to wait when one is empty
    /// (the request is then refused whole: nothing of a batch runs), else null.
    /// </summary>
    public async ValueTask<(string Tool, TimeSpan RetryAfter)?> AcquireAsync(string connector, McpRequest request, string tenant, CancellationToken cancellationToken)
    {
        foreach (var message in request.Messages)
        {
            if (message.Tool is not { } tool || !_perMinute.TryGetValue((connector, tool.ToLowerInvariant()), out var perMinute))
            {
                continue;
            }
            var key = (connector, tool.ToLowerInvariant(), tenant);
            var bucket = _buckets.GetOrAdd(key, k => WriteRateLimiting.TokenBucket($"mcp-tool:{k.Connector}:{k.Tool}:{k.Tenant}", perMinute, 1,
                TimeSpan.FromMinutes(1) / perMinute, _store));
            using var lease = await bucket.AcquireAsync(1, cancellationToken);
            if (!lease.IsAcquired)
            {
                return (tool, TimeSpan.FromSeconds(WriteRateLimiting.RetryAfterSeconds(lease)));
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var bucket in _buckets.Values)
        {
            await bucket.DisposeAsync();
        }
    }
}
