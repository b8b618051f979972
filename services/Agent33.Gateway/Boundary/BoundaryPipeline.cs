using System.Collections.Concurrent;
using System.Diagnostics;
using Agent33.Gateway.Connectors;
using Agent33.Gateway.Mcp;
using Agent33.Gateway.Monitoring;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Agent33.Gateway.Boundary;

/// <summary>What one attempt at the upstream produced.</summary>
public sealed record AttemptOutcome(int StatusCode, ForwarderError? TransportError)
{
    public bool IsFailure => TransportError is not null || StatusCode >= 500;

    /// <summary>Worth another attempt: a transport error, or 408, 429, 502, 503, 504.</summary>
    public bool IsTransient => TransportError is not null || StatusCode is 408 or 429 or 502 or 503 or 504;
}

/// <summary>The breaker refused the call.</summary>
public sealed class CircuitOpenException(TimeSpan retryAfter) : Exception("The connector's circuit is open.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// The boundary pipeline, inside YARP's proxy pipeline: governance → total timeout → retry → circuit
/// breaker → per-attempt metrics → forward (YARP's forwarder, the next step of its pipeline). Timeout and
/// retry are Polly's strategies; the breaker is a custom Polly strategy (see <see cref="CircuitBreaker"/>).
/// Each attempt's response is buffered, so a failed attempt can be retried and only the final answer
/// reaches the caller, mapped to the contract's error codes.
/// </summary>
public sealed partial class BoundaryPipeline(
    ConnectorRegistry registry, Governance governance, GatewayMetrics metrics, IOptions<GovernanceOptions> options, ILogger<BoundaryPipeline> logger)
{
    public const string ConnectorHeader = "X-Connector-Id";
    private static readonly ResiliencePropertyKey<AttemptState> StateKey = new("agent33.attempt");
    private readonly ConcurrentDictionary<string, ResiliencePipeline<AttemptOutcome>> _pipelines = new(StringComparer.Ordinal);

    /// <summary>The state one call's attempts share.</summary>
    private sealed record AttemptState(
        HttpContext Http, Func<Task> Forward, ConnectorRuntime Connector, string Operation, bool CanRetry, bool BodyBuffered, TimeSpan Timeout, AttemptResponseBody Body);

    public async Task InvokeAsync(HttpContext http, Func<Task> forward)
    {
        var routeId = http.GetReverseProxyFeature().Route.Config.RouteId;
        var connector = registry.Find(routeId)!;
        var settings = connector.Options;

        // Idempotent calls may be repeated; their body is kept for a retry only when one can happen.
        // MCP posts are always read: their JSON-RPC methods are what governance judges.
        var method = http.Request.Method;
        var idempotent = HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
                         || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method) || http.Request.Headers.ContainsKey("Idempotency-Key");
        var hasBody = HasBody(http);
        var isMcpPost = settings.Kind == "mcp" && HttpMethods.IsPost(method);
        var bodyBuffered = hasBody && (isMcpPost || (idempotent && settings.RetryAttempts > 0)) && await BufferBodyAsync(http);
        var mcp = isMcpPost && bodyBuffered ? McpRequest.Parse(await ReadBufferedAsync(http)) : null;
        if (isMcpPost && hasBody && mcp is null)
        {
            // Governance cannot judge what it cannot read (too large to hold, not strict JSON), and the server
            // might read it differently: refused, never forwarded unjudged.
            metrics.Denied(settings.Id, method);
            await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked",
                $"An MCP request must be a JSON-RPC message or batch in UTF-8 JSON without duplicate names, at most {options.Value.MaxBufferedBodyBytes} bytes.");
            return;
        }

        // The operation: JSON-RPC methods for MCP, else the caller's label, else the HTTP method.
        IReadOnlyList<string> operations = mcp is { Methods.Count: > 0 } ? mcp.Methods
            : [http.Request.Headers["X-Connector-Operation"].FirstOrDefault() is { Length: > 0 } label ? label : http.Request.Method.ToUpperInvariant()];
        var operation = string.Join(',', operations.Distinct());

        if (governance.Deny(settings, operations, mcp) is { } reason)
        {
            foreach (var denied in operations.Distinct())
            {
                metrics.Denied(settings.Id, denied);
            }
            var extensions = new Dictionary<string, object?>();
            if (mcp is not null)
            {
                foreach (var (key, value) in mcp.Error(reason))
                {
                    extensions[key] = value;
                }
            }
            await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked", reason, extensions);
            return;
        }

        if (settings.TakesCallerTargets)
        {
            var (target, refusal) = await CallerTargets.ResolveAsync(http, settings);
            if (refusal is not null)
            {
                metrics.Denied(settings.Id, operation);
                await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked", refusal);
                return;
            }
            http.Items[CallerTargets.ItemKey] = target;
        }

        var canRetry = (mcp?.IsReadOnly ?? idempotent) && (!hasBody || bodyBuffered);
        var timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds);
        if (http.Request.Headers["X-Connector-Timeout"].FirstOrDefault() is { } requested
            && double.TryParse(requested, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            timeout = TimeSpan.FromSeconds(Math.Min(seconds, settings.MaxTimeoutSeconds));
        }

        // Failed attempts are held back so they can be retried or replaced; the caller sees only the final answer.
        var realBody = http.Features.Get<IHttpResponseBodyFeature>()!;
        var aborted = http.RequestAborted;
        await using var body = new AttemptResponseBody(http, realBody, holdAll: mcp?.ListsTools == true);
        http.Features.Set<IHttpResponseBodyFeature>(body);
        var context = ResilienceContextPool.Shared.Get(aborted);
        context.Properties.Set(StateKey, new AttemptState(http, forward, connector, operation, canRetry, bodyBuffered, timeout, body));
        Outcome<AttemptOutcome> outcome;
        try
        {
            outcome = await PipelineFor(connector).ExecuteOutcomeAsync(static async (ctx, _) => await AttemptAsync(ctx), context, 0);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            http.Features.Set(realBody);
            http.RequestAborted = aborted;
        }

        if (body.Committed && outcome.Exception is not null)
        {
            http.Abort(); // the answer was already streaming when the call failed: cut it, do not splice an error in
            return;
        }
        switch (outcome.Exception)
        {
            case null when outcome.Result!.IsFailure:
                LogUpstreamFailed(logger, settings.Id, outcome.Result.StatusCode, outcome.Result.TransportError?.ToString() ?? "status");
                http.Response.Clear();
                await ProblemAsync(http, settings.Id, StatusCodes.Status502BadGateway, "http_error",
                    outcome.Result.TransportError is null
                        ? $"Connector '{settings.Id}' answered {outcome.Result.StatusCode}."
                        : $"Connector '{settings.Id}' is unreachable ({outcome.Result.TransportError}).");
                return;
            case null when body.Committed:
                return; // already streamed to the caller
            case null:
                await WriteFinalAsync(http, body.Held, settings, mcp);
                return;
            case CircuitOpenException open:
                http.Response.Clear();
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(open.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ProblemAsync(http, settings.Id, StatusCodes.Status503ServiceUnavailable, "circuit_open",
                    $"The circuit for connector '{settings.Id}' is open; retry after {Math.Ceiling(open.RetryAfter.TotalSeconds)} s.");
                return;
            case TimeoutRejectedException:
                http.Response.Clear();
                await ProblemAsync(http, settings.Id, StatusCodes.Status504GatewayTimeout, "timeout",
                    $"Connector '{settings.Id}' did not answer within {timeout.TotalSeconds} s.");
                return;
            case OperationCanceledException when aborted.IsCancellationRequested:
                return; // the caller went away
            default:
                LogUnexpected(logger, settings.Id, outcome.Exception.GetType().Name, outcome.Exception.Message);
                http.Response.Clear();
                await ProblemAsync(http, settings.Id, StatusCodes.Status502BadGateway, "general_failure", $"Connector '{settings.Id}' failed.");
                return;
        }
    }

    private static async ValueTask<Outcome<AttemptOutcome>> AttemptAsync(ResilienceContext context)
    {
        var state = context.Properties.GetValue(StateKey, null!);
        var http = state.Http;
        http.Response.Clear();
        state.Body.ResetAttempt();
        http.Features.Set<IForwarderErrorFeature>(null);
        if (state.BodyBuffered)
        {
            http.Request.Body.Position = 0;
        }
        http.RequestAborted = context.CancellationToken;

        var started = Stopwatch.GetTimestamp();
        await state.Forward();
        var elapsed = Stopwatch.GetElapsedTime(started);
        context.CancellationToken.ThrowIfCancellationRequested(); // the total timeout fired mid-attempt

        var error = http.Features.Get<IForwarderErrorFeature>()?.Error;
        var outcome = new AttemptOutcome(http.Response.StatusCode, error);
        var metrics = http.RequestServices.GetRequiredService<GatewayMetrics>();
        metrics.Attempt(state.Connector.Options.Id, state.Operation, !outcome.IsFailure, elapsed);
        state.Connector.Stats.Record(!outcome.IsFailure, elapsed);
        return Outcome.FromResult(outcome);
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
            TimeoutGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(StateKey, null!).Timeout),
        });
        if (settings.RetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<AttemptOutcome>
            {
                MaxRetryAttempts = settings.RetryAttempts,
                Delay = TimeSpan.FromMilliseconds(settings.RetryBaseDelayMilliseconds),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = settings.RetryBaseDelayMilliseconds > 0,
                // Only transient failures of calls that may be repeated; never an open circuit or a timeout.
                ShouldHandle = args => ValueTask.FromResult(
                    args.Context.Properties.GetValue(StateKey, null!).CanRetry && args.Outcome.Result is { IsTransient: true }),
                OnRetry = args =>
                {
                    metrics.Retry(settings.Id);
                    return ValueTask.CompletedTask;
                },
            });
        }
        builder.AddStrategy(_ => new BreakerStrategy(connector.Breaker), new BreakerStrategyOptions());
        return builder.Build();
    });

    private async Task WriteFinalAsync(HttpContext http, MemoryStream buffer, ConnectorOptions settings, McpRequest? mcp)
    {
        var bytes = buffer.ToArray();
        if (mcp?.ListsTools == true && McpRequest.FilterToolList(bytes, http.Response.ContentType, settings.Tools) is { } filtered)
        {
            bytes = filtered;
        }
        if (http.Response.Headers.ContentLength is not null || bytes.Length > 0)
        {
            http.Response.Headers.ContentLength = bytes.Length;
        }
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    private async Task<bool> BufferBodyAsync(HttpContext http)
    {
        var limit = options.Value.MaxBufferedBodyBytes;
        if (http.Request.ContentLength > limit)
        {
            return false; // too large to keep for a retry: sent once, as it streams
        }
        http.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: limit);
        try
        {
            await http.Request.Body.CopyToAsync(Stream.Null, http.RequestAborted); // reads it into the buffer
        }
        catch (IOException)
        {
            return false;
        }
        http.Request.Body.Position = 0;
        return true;
    }

    private static async Task<byte[]> ReadBufferedAsync(HttpContext http)
    {
        using var copy = new MemoryStream();
        await http.Request.Body.CopyToAsync(copy, http.RequestAborted);
        http.Request.Body.Position = 0;
        return copy.ToArray();
    }

    private static bool HasBody(HttpContext http) => http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0;

    public static Task ProblemAsync(HttpContext http, string connectorId, int status, string code, string detail, IDictionary<string, object?>? extensions = null)
    {
        http.Response.Headers[ConnectorHeader] = connectorId;
        return ApiProblem.WriteAsync(http, status, code, detail, extensions);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connector {Connector} failed after retries: status {Status}, {Error}")]
    private static partial void LogUpstreamFailed(ILogger logger, string connector, int status, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Connector {Connector} call failed unexpectedly: {Type}: {Message}")]
    private static partial void LogUnexpected(ILogger logger, string connector, string type, string message);

    private sealed class BreakerStrategyOptions : ResilienceStrategyOptions
    {
        public BreakerStrategyOptions() => Name = "connector-circuit-breaker";
    }

    /// <summary>The connector's shared breaker as a Polly strategy: refuse while open, record every attempt.</summary>
    private sealed class BreakerStrategy(CircuitBreaker breaker) : ResilienceStrategy<AttemptOutcome>
    {
        protected override async ValueTask<Outcome<AttemptOutcome>> ExecuteCore<TState>(
            Func<ResilienceContext, TState, ValueTask<Outcome<AttemptOutcome>>> callback, ResilienceContext context, TState state)
        {
            if (!breaker.TryEnter(out var retryAfter))
            {
                return Outcome.FromException<AttemptOutcome>(new CircuitOpenException(retryAfter));
            }
            var outcome = await callback(context, state);
            if (outcome.Exception is not null || outcome.Result!.IsFailure)
            {
                breaker.RecordFailure(); // transport errors, timeouts and 5xx; a 4xx is the caller's problem
            }
            else
            {
                breaker.RecordSuccess();
            }
            return outcome;
        }
    }
}
