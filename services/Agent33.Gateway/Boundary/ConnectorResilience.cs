using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Boundary;

/// <summary>What one attempt at the upstream came to. Attempts never throw: every ending is one of these.</summary>
/// <param name="Kind">The outcome, as counted.</param>
/// <param name="StatusCode">The upstream's status; for a caller's fault, the status the caller is answered with (400, 413, 504).</param>
public readonly record struct AttemptOutcome(CallOutcome Kind, int StatusCode, ForwarderError? Error = null,
    bool Overflowed = false, TimeSpan RetryAfter = default, Exception? Unexpected = null)
{
    /// <summary>The caller's doing: says nothing about the upstream, so no breaker, retry or upstream statistic sees it.</summary>
    public bool CallerFault => Kind.IsCallerFault();

    /// <summary>Worth another attempt: a transport error or 502/503/504, a 408 or 429, an idle timeout before the headers.</summary>
    public bool IsTransient => Kind switch
    {
        CallOutcome.Failure => !Overflowed && Unexpected is null && (Error is not null || StatusCode is 502 or 503 or 504),
        CallOutcome.ClientError => StatusCode is 408 or 429,
        CallOutcome.Timeout => Error is ForwarderError.RequestTimedOut,
        _ => false,
    };
}

/// <summary>One call through the boundary: what its attempts share.</summary>
/// <param name="callerTimeout">The timeout is the caller's <c>X-Connector-Timeout</c>, shorter than the connector's own: its firing is the caller's choice.</param>
internal sealed class BoundaryCall(HttpContext http, Func<Task> forward, ConnectorRuntime connector, string operation,
    bool canRetry, bool bodyBuffered, TimeSpan timeout, bool callerTimeout, AttemptResponseBody body, CancellationToken callerAborted)
{
    public HttpContext Http => http;
    public ConnectorRuntime Connector => connector;

    /// <summary>The bounded metrics label.</summary>
    public string Operation => operation;

    public TimeSpan Timeout => timeout;
    public bool CallerTimeout => callerTimeout;
    public AttemptResponseBody Body => body;
    public CancellationToken CallerAborted => callerAborted;

    /// <summary>Another attempt may be made: the call may be repeated and nothing has reached the caller yet.</summary>
    public bool CanRetry => canRetry && !http.Response.HasStarted;

    public async ValueTask<Outcome<AttemptOutcome>> AttemptAsync(CancellationToken totalTimeout, GatewayMetrics metrics)
    {
        http.Response.Clear();
        http.Features.Set<IForwarderErrorFeature>(null);
        if (bodyBuffered)
        {
            http.Request.Body.Position = 0;
        }
        http.RequestAborted = body.BeginAttempt(callerAborted);
        var started = Stopwatch.GetTimestamp();
        AttemptOutcome outcome;
        using (totalTimeout.UnsafeRegister(static state => ((AttemptResponseBody)state!).OnTotalTimeout(), body))
        {
            try
            {
                await forward();
                outcome = Classify();
            }
            catch (Exception) when (callerAborted.IsCancellationRequested || body.TimedOut)
            {
                outcome = Classify();
            }
            catch (Exception unexpected)
            {
                outcome = new AttemptOutcome(CallOutcome.Failure, StatusCodes.Status502BadGateway, Unexpected: unexpected);
            }
            finally
            {
                body.EndAttempt();
            }
        }
        // A streaming answer's latency is the time to its headers; the stream's length says nothing of the upstream.
        var ended = body.HeadersAt > 0 && outcome.Kind == CallOutcome.Success ? body.HeadersAt : Stopwatch.GetTimestamp();
        var elapsed = Stopwatch.GetElapsedTime(started, ended);
        metrics.Call(connector.Options.Id, operation, outcome.Kind, elapsed);
        if (outcome.CallerFault)
        {
            connector.Stats.RecordCallerFault(outcome.Kind);
        }
        else
        {
            connector.Stats.Record(outcome.Kind is CallOutcome.Success or CallOutcome.ClientError, elapsed);
        }
        return Outcome.FromResult(outcome);
    }

    private AttemptOutcome Classify()
    {
        var status = http.Response.StatusCode;
        var failed = http.Features.Get<IForwarderErrorFeature>();
        if (body.Overflowed)
        {
            return new AttemptOutcome(CallOutcome.Failure, body.UpstreamStatus, failed?.Error, Overflowed: true);
        }
        if (body.TimedOut)
        {
            return new AttemptOutcome(callerTimeout ? CallOutcome.CallerError : CallOutcome.Timeout, StatusCodes.Status504GatewayTimeout);
        }
        // An upstream-side error is judged before the caller's state: YARP aborts the caller's connection when a
        // stream it already relays fails, and that abort must not make the upstream's fault look like the caller's.
        return failed?.Error switch
        {
            ForwarderError.RequestTimedOut => new AttemptOutcome(CallOutcome.Timeout, StatusCodes.Status504GatewayTimeout, failed.Error),
            // A stream that went silent for longer than its idle timeout.
            ForwarderError.ResponseBodyDestination when failed.Exception is OperationCanceledException
                => new AttemptOutcome(CallOutcome.Timeout, StatusCodes.Status504GatewayTimeout, failed.Error),
            // The caller's own doing never counts against the upstream.
            _ when callerAborted.IsCancellationRequested => new AttemptOutcome(CallOutcome.ClientCancelled, status, failed?.Error),
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled
                or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeResponseCanceled
                or ForwarderError.UpgradeResponseClient
                => new AttemptOutcome(CallOutcome.ClientCancelled, status, failed.Error),
            ForwarderError.RequestBodyClient or ForwarderError.UpgradeRequestClient
                => new AttemptOutcome(CallOutcome.CallerError, status is StatusCodes.Status413PayloadTooLarge ? status : StatusCodes.Status400BadRequest, failed.Error),
            // The upstream request could not be built from the caller's (a header or target the client refuses).
            ForwarderError.RequestCreation => new AttemptOutcome(CallOutcome.CallerError, StatusCodes.Status400BadRequest, failed.Error),
            ForwarderError.Request when ForwardFaults.IsUnsendableRequest(failed.Exception)
                => new AttemptOutcome(CallOutcome.CallerError, StatusCodes.Status400BadRequest, failed.Error),
            null => new AttemptOutcome(status >= 500 ? CallOutcome.Failure : status >= 400 ? CallOutcome.ClientError : CallOutcome.Success, status),
            var error => new AttemptOutcome(CallOutcome.Failure, StatusCodes.Status502BadGateway, error),
        };
    }
}

/// <summary>
/// Each connector's Polly pipeline: total timeout → retry → circuit breaker → the attempt (which records the
/// per-attempt metrics and forwards). Attempts turn every ending into an <see cref="AttemptOutcome"/>, so the breaker
/// and the metrics see timeouts and transport errors too (Polly's <c>ExecuteOutcomeAsync</c> would let a thrown
/// exception pass them by).
/// </summary>
public sealed class ConnectorResilience(GatewayMetrics metrics)
{
    private GatewayMetrics Metrics => metrics;

    private static readonly ResiliencePropertyKey<BoundaryCall> CallKey = new("agent33.call");
    private readonly ConcurrentDictionary<string, ResiliencePipeline<AttemptOutcome>> _pipelines = new(StringComparer.Ordinal);

    /// <summary>Runs the call's attempts; <paramref name="context"/> comes from <see cref="ResilienceContextPool"/> and goes back there after.</summary>
    internal ValueTask<Outcome<AttemptOutcome>> ExecuteAsync(BoundaryCall call, ResilienceContext context)
    {
        context.Properties.Set(CallKey, call);
        return PipelineFor(call.Connector).ExecuteOutcomeAsync(
            static (ctx, self) => ctx.Properties.GetValue(CallKey, null!).AttemptAsync(ctx.CancellationToken, self.Metrics), context, this);
    }

    private ResiliencePipeline<AttemptOutcome> PipelineFor(ConnectorRuntime connector) => _pipelines.GetOrAdd(connector.Options.Id, _ =>
    {
        var settings = connector.Options;
        var builder = new ResiliencePipelineBuilder<AttemptOutcome>
        {
            // Timeouts and retry delays bound real I/O, so they run on the real clock; the breaker's
            // cooldowns use the injectable one.
            TimeProvider = TimeProvider.System,
        };
        builder.AddTimeout(new TimeoutStrategyOptions
        {
            TimeoutGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(CallKey, null!).Timeout),
        });
        if (settings.RetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<AttemptOutcome>
            {
                MaxRetryAttempts = settings.RetryAttempts,
                Delay = TimeSpan.FromMilliseconds(settings.RetryBaseDelayMilliseconds),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = settings.RetryBaseDelayMilliseconds > 0,
                // Only transient failures of calls that may be repeated; never an open circuit or a spent total timeout.
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Result.IsTransient && !args.Context.CancellationToken.IsCancellationRequested
                    && args.Context.Properties.GetValue(CallKey, null!).CanRetry),
                OnRetry = _ =>
                {
                    metrics.Retry(settings.Id);
                    return ValueTask.CompletedTask;
                },
            });
        }
        builder.AddStrategy(_ => new BreakerStrategy(connector.Breaker, metrics), new BreakerStrategyOptions());
        return builder.Build();
    });

    private sealed class BreakerStrategyOptions : ResilienceStrategyOptions
    {
        public BreakerStrategyOptions() => Name = "connector-circuit-breaker";
    }

    /// <summary>The connector's shared breaker as a Polly strategy: refuse while open, record every attempt's outcome.</summary>
    private sealed class BreakerStrategy(CircuitBreaker breaker, GatewayMetrics metrics) : ResilienceStrategy<AttemptOutcome>
    {
        protected override async ValueTask<Outcome<AttemptOutcome>> ExecuteCore<TState>(
            Func<ResilienceContext, TState, ValueTask<Outcome<AttemptOutcome>>> callback, ResilienceContext context, TState state)
        {
            if (!breaker.TryEnter(out var retryAfter))
            {
                var call = context.Properties.GetValue(CallKey, null!);
                metrics.Call(call.Connector.Options.Id, call.Operation, CallOutcome.CircuitOpen);
                return Outcome.FromResult(new AttemptOutcome(CallOutcome.CircuitOpen, StatusCodes.Status503ServiceUnavailable, RetryAfter: retryAfter));
            }
            var outcome = await callback(context, state);
            switch (outcome.Result)
            {
                case { CallerFault: true }:
                    break; // the caller's doing says nothing about the upstream
                case { Kind: CallOutcome.Failure or CallOutcome.Timeout }:
                    breaker.RecordFailure();
                    break;
                default:
                    breaker.RecordSuccess(); // a 4xx is the caller's problem, not the upstream's
                    break;
            }
            return outcome;
        }
    }
}
