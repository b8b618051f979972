using System.Threading.RateLimiting;
using RedisRateLimiting;

namespace Agent33.ServiceDefaults.RateLimiting;

/// <summary>
/// One API key's write bucket when a shared store is configured: the token bucket in Redis (RedisRateLimiting's
/// <see cref="RedisTokenBucketRateLimiter{TKey}"/>), which every replica of the service draws from, and this
/// replica's own in-process bucket, which decides whenever the store cannot — a write never fails because the
/// limiter's store is down.
/// </summary>
internal sealed class SharedTokenBucket(string partitionKey, RedisTokenBucketRateLimiterOptions shared, TokenBucketRateLimiter local,
    RedisRateLimitStore store) : RateLimiter
{
    private static readonly RateLimitLease Deferred = new NotDecidedLease();

    private RedisTokenBucketRateLimiter<string>? _shared;

    public override TimeSpan? IdleDuration => local.IdleDuration is null ? null : _shared?.IdleDuration ?? local.IdleDuration;

    public override RateLimiterStatistics? GetStatistics() => local.GetStatistics(); // the Redis limiter has none

    // The store is only reached asynchronously: the middleware's synchronous attempt defers to AcquireAsync.
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => Deferred;

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        if (store.Connection is not { } connection)
        {
            store.ReportFailure(null);
            return ValueTask.FromResult(local.AttemptAcquire(permitCount));
        }
        var limiter = _shared ??= CreateShared(connection);
        ValueTask<RateLimitLease> pending;
        try
        {
            pending = limiter.AcquireAsync(permitCount, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            store.ReportFailure(ex);
            return ValueTask.FromResult(local.AttemptAcquire(permitCount));
        }
        return pending.IsCompletedSuccessfully ? pending : AwaitShared(pending, permitCount, cancellationToken);
    }

    private async ValueTask<RateLimitLease> AwaitShared(ValueTask<RateLimitLease> pending, int permitCount, CancellationToken cancellationToken)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            store.ReportFailure(ex);
            return local.AttemptAcquire(permitCount);
        }
    }

    private RedisTokenBucketRateLimiter<string> CreateShared(StackExchange.Redis.IConnectionMultiplexer connection)
    {
        shared.ConnectionMultiplexerFactory = () => connection; // one multiplexer per process; it reconnects by itself
        return new RedisTokenBucketRateLimiter<string>(partitionKey, shared);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _shared?.Dispose();
            local.Dispose();
        }
        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        if (_shared is not null)
        {
            await _shared.DisposeAsync().ConfigureAwait(false);
        }
        await local.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class NotDecidedLease : RateLimitLease
    {
        public override bool IsAcquired => false;
        public override IEnumerable<string> MetadataNames => [];
        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
