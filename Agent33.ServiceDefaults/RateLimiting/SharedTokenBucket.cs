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
    private static readonly RateLimitLease Deferred = new FixedLease(acquired: false);
    private static readonly RateLimitLease Granted = new FixedLease(acquired: true);

    private RedisTokenBucketRateLimiter<string>? _shared;
    private int _inFlight;

    // Not idle while an acquisition waits on the store: the partitioned limiter disposes idle partitions, and a store
    // answer that fails late falls back to the local bucket, which must still be there (found under load: 500s).
    public override TimeSpan? IdleDuration =>
        Volatile.Read(ref _inFlight) > 0 || local.IdleDuration is null ? null : _shared?.IdleDuration ?? local.IdleDuration;

    public override RateLimiterStatistics? GetStatistics() => local.GetStatistics(); // the Redis limiter has none

    // The store is only reached asynchronously: the middleware's synchronous attempt defers to AcquireAsync.
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => Deferred;

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        if (store.Connection is not { } connection)
        {
            store.ReportFailure(null);
            return ValueTask.FromResult(Local(permitCount));
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
            return ValueTask.FromResult(Local(permitCount));
        }
        return pending.IsCompletedSuccessfully ? pending : AwaitShared(pending, permitCount, cancellationToken);
    }

    private async ValueTask<RateLimitLease> AwaitShared(ValueTask<RateLimitLease> pending, int permitCount, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            store.ReportFailure(ex);
            return Local(permitCount);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>
    /// The replica's own decision. A partition disposed by an idle sweep between its lookup and this call (the
    /// partitioned limiter's own race) lets the write pass rather than fail it: the limit's store is never a reason
    /// to fail a write.
    /// </summary>
    private RateLimitLease Local(int permitCount)
    {
        try
        {
            return local.AttemptAcquire(permitCount);
        }
        catch (ObjectDisposedException)
        {
            return Granted;
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

    private sealed class FixedLease(bool acquired) : RateLimitLease
    {
        public override bool IsAcquired => acquired;
        public override IEnumerable<string> MetadataNames => [];
        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
