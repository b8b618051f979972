using System.Globalization;
using Agent33.Gateway.Catalog;
using Agent33.Gateway.Mcp;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Timeout;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The boundary pipeline, inside YARP's proxy pipeline, one named step after another: the caller's headers
/// (<see cref="HeaderPolicy"/>) → the MCP session's destination (<see cref="McpSessionAffinity"/>) → read and judge the body (<see cref="RequestBody"/>) → governance (<see cref="Govern"/>)
/// → caller targets (<see cref="CallerTargets"/>) → total timeout → retry → circuit breaker → per-attempt metrics →
/// forward (<see cref="ConnectorResilience"/>, whose last step is YARP's forwarder) → the answer, mapped to the
/// contract's error codes (<see cref="AnswerAsync"/>, in the door's <see cref="ErrorShape"/>). Every call ends in
/// exactly one outcome (<see cref="CallOutcome"/>); the LLM door shares every step but the body and targets.
/// </summary>
public sealed partial class BoundaryPipeline(
    Governance governance, GatewayMetrics metrics, ConnectorResilience resilience, TargetSockets sockets, ToolRateLimits toolLimits,
    IToolPins pins, McpSessionAffinity sessions, McpAudit audit, IOptions<GovernanceOptions> options, ILogger<BoundaryPipeline> logger)
{
    private const string TimeoutHeader = HeaderPolicy.TimeoutHeader;
    private const string OperationHeader = HeaderPolicy.OperationHeader;

    /// <summary>The shortest <c>X-Connector-Timeout</c> taken; shorter ones would round to "no timeout".</summary>
    public const double MinTimeoutSeconds = 0.001;

    public async Task InvokeAsync(HttpContext http, ConnectorRuntime connector, Func<Task> forward)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (mcp, outcome) = await ServeAsync(http, connector, forward);
        if (mcp is not null)
        {
            // Every tools/call the door decided, refusals included; a body never read names no tool, so is not audited.
            var duration = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            audit.Record(http, connector.Options.Id, mcp, outcome, audit.Now - duration, duration);
        }
    }

    /// <summary>The door's steps; returns the MCP request when its body was read, and the outcome label the call ended with.</summary>
    private async Task<(McpRequest? Mcp, string Outcome)> ServeAsync(HttpContext http, ConnectorRuntime connector, Func<Task> forward)
    {
        var settings = connector.Options;
        var request = http.Request;
        var method = request.Method;
        var label = request.Headers[OperationHeader] is { Count: > 0 } labels && labels[0] is { Length: > 0 } first ? first : null;

        if (!TryReadTimeout(request, settings, out var timeout))
        {
            CountCallerFault(connector, OperationLabels.For(label ?? method, settings), CallOutcome.CallerError);
            await ProblemAsync(http, settings.Id, StatusCodes.Status400BadRequest, "invalid_timeout",
                $"{TimeoutHeader} must be one number of seconds, at least {MinTimeoutSeconds} (values above {settings.MaxTimeoutSeconds} are capped).");
            return (null, CallOutcome.CallerError.Label());
        }
        if (await RefuseUnsendableAsync(http, connector, OperationLabels.For(label ?? method, settings), ErrorShape.Problem))
        {
            return (null, CallOutcome.CallerError.Label());
        }
        if (sessions.Pin(http, settings.Id) is var pin and (SessionPin.Unknown or SessionPin.Gone))
        {
            // MCP's "session not found": the client starts a new session, which load balancing places anew. Nothing
            // upstream is at fault, so nothing counts against it.
            CountCallerFault(connector, OperationLabels.For(label ?? method, settings), CallOutcome.CallerError);
            await ProblemAsync(http, settings.Id, StatusCodes.Status404NotFound, "session_not_found", pin == SessionPin.Gone
                ? $"The {McpSessionAffinity.Header} names a session on a destination connector '{settings.Id}' no longer has; start a new session."
                : $"The {McpSessionAffinity.Header} is not a session this gateway issued for connector '{settings.Id}'; start a new session.");
            return (null, CallOutcome.CallerError.Label());
        }

        // Read and judge the body: every MCP body is judged; a body a retry may resend is kept.
        var idempotent = HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
                         || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method) || request.Headers.ContainsKey("Idempotency-Key");
        var hasBody = RequestBody.IsPresent(request);
        var mustJudge = hasBody && settings.Kind == "mcp";
        // A body too large to keep is sent once, as it streams, and the call is not retried.
        var mayResend = hasBody && idempotent && settings.RetryAttempts > 0 && request.ContentLength <= options.Value.MaxBufferedBodyBytes;
        McpRequest? mcp = null;
        if (mustJudge || mayResend)
        {
            var read = await RequestBody.BufferAsync(http, options.Value.MaxBufferedBodyBytes);
            if (read != BodyRead.Buffered)
            {
                await RefuseBodyAsync(http, connector, OperationLabels.For(label ?? method, settings), read, options.Value.MaxBufferedBodyBytes);
                return (null, CallOutcome.CallerError.Label());
            }
            if (mustJudge && (mcp = McpRequest.Parse(await RequestBody.ReadBufferedAsync(http))) is null)
            {
                // Governance cannot judge what it cannot read, and the server might read it differently: refused.
                var operation = OperationLabels.For(label ?? method, settings);
                metrics.Denied(settings.Id, operation);
                metrics.Call(settings.Id, operation, CallOutcome.GovernanceBlocked);
                await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked",
                    "An MCP request body must be one JSON-RPC message or a flat batch of them, in strict UTF-8 JSON without duplicate names, "
                    + "with string methods and a string params.name for tools/call.");
                return (null, CallOutcome.GovernanceBlocked.Label());
            }
        }
        var operationLabel = OperationLabel(settings, method, label, mcp);

        if (Govern(settings, Door.Connector, method, label, mcp, HeaderPolicy.MethodOverrides(request.Headers), operationLabel) is { } denial)
        {
            await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked", denial.Reason, mcp?.Error(denial.Reason));
            return (mcp, CallOutcome.GovernanceBlocked.Label());
        }
        if (mcp is not null && await RefuseChangedToolAsync(http, settings, mcp, operationLabel))
        {
            return (mcp, CallOutcome.GovernanceBlocked.Label());
        }
        if (mcp is not null && toolLimits.Any
            && await toolLimits.AcquireAsync(settings.Id, mcp, Agent33.ServiceDefaults.Auth.ApiCaller.From(http).Tenant, http.RequestAborted) is { } limited)
        {
            // The caller's own pace: counted as its fault, never against the upstream.
            metrics.ToolRateLimited(settings.Id, limited.Tool);
            CountCallerFault(connector, operationLabel, CallOutcome.CallerError);
            OutcomeWriter.RetryAfter(http.Response, limited.RetryAfter);
            var message = $"Tool '{limited.Tool}' of connector '{settings.Id}' is called more often than its limit for this tenant ({ToolRateLimits.Section}); retry after the time in Retry-After.";
            await ProblemAsync(http, settings.Id, StatusCodes.Status429TooManyRequests, "rate_limited", message, mcp.Error(message));
            return (mcp, McpAudit.RateLimited);
        }

        if (settings.TakesCallerTargets)
        {
            var (target, refusal) = await CallerTargets.ResolveAsync(http, settings, sockets);
            if (refusal is not null)
            {
                metrics.Denied(settings.Id, operationLabel);
                metrics.Call(settings.Id, operationLabel, CallOutcome.GovernanceBlocked);
                await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "governance_blocked", refusal);
                return (mcp, CallOutcome.GovernanceBlocked.Label());
            }
            http.Items[CallerTargets.ItemKey] = target;
        }

        var canRetry = (mcp?.IsReadOnly ?? idempotent) && (!hasBody || http.Request.Body.CanSeek);
        var (call, outcome) = await ExecuteAsync(http, connector, forward, operationLabel, canRetry, timeout, holdAll: mcp?.ListsTools == true);
        await AnswerAsync(http, call, outcome, ErrorShape.Problem);
        return (mcp, outcome.Exception switch
        {
            null => outcome.Result.Kind.Label(),
            TimeoutRejectedException => CallOutcome.Timeout.Label(),
            _ => CallOutcome.Failure.Label(),
        });
    }

    /// <summary>
    /// The governance step of every door: judges the call and counts a denial (each denied operation, and the call's
    /// outcome). Null when the call may pass.
    /// </summary>
    public Denial? Govern(ConnectorOptions connector, Door door, string method, string? label, McpRequest? mcp, IReadOnlyList<string> methodOverrides, string operationLabel)
    {
        if (governance.Judge(connector, door, method, label, mcp, methodOverrides) is not { } denial)
        {
            return null;
        }
        foreach (var denied in denial.Operations)
        {
            metrics.Denied(connector.Id, OperationLabels.For(denied, connector));
        }
        metrics.Call(connector.Id, operationLabel, CallOutcome.GovernanceBlocked);
        return denial;
    }

    /// <summary>
    /// A <c>tools/call</c> of a tool whose definition changed since it was approved (<see cref="IToolPins"/>): refused
    /// like governance refuses, before any rate limit is drawn from. A pin store that cannot answer refuses the call
    /// too (503): a tool that cannot be judged does not run. True when it was refused.
    /// </summary>
    private async Task<bool> RefuseChangedToolAsync(HttpContext http, ConnectorOptions settings, McpRequest mcp, string operationLabel)
    {
        string? reason = null;
        try
        {
            foreach (var message in mcp.Messages)
            {
                if (message.Tool is { } tool && (reason = await pins.RefuseCallAsync(settings.Id, tool, http.RequestAborted)) is not null)
                {
                    break;
                }
            }
        }
        catch (ToolPinsUnavailableException)
        {
            metrics.Call(settings.Id, operationLabel, CallOutcome.GovernanceBlocked);
            await PinsUnavailableAsync(http, settings.Id, ErrorShape.Problem, mcp);
            return true;
        }
        if (reason is null)
        {
            return false;
        }
        metrics.Denied(settings.Id, OperationLabels.For(McpRequest.ToolsCall, settings));
        metrics.Call(settings.Id, operationLabel, CallOutcome.GovernanceBlocked);
        await ProblemAsync(http, settings.Id, StatusCodes.Status403Forbidden, "tool_definition_changed", reason, mcp.Error(reason));
        return true;
    }

    private static Task PinsUnavailableAsync(HttpContext http, string connectorId, ErrorShape shape, McpRequest? mcp)
    {
        const string message = "The pinned tool definitions cannot be checked right now, so no tool is listed or called; retry after the time in Retry-After.";
        OutcomeWriter.RetryAfter(http.Response, TimeSpan.FromSeconds(5));
        return OutcomeWriter.ErrorAsync(http, shape, StatusCodes.Status503ServiceUnavailable, "tool_pins_unavailable", message, connectorId, mcp?.Error(message));
    }

    /// <summary>
    /// A caller's header that no upstream request can carry is the caller's fault: answered 400 here, counted as
    /// <c>caller_error</c>, before any connector's breaker, retry or timeout is involved. True when it was refused.
    /// </summary>
    public async Task<bool> RefuseUnsendableAsync(HttpContext http, ConnectorRuntime? connector, string operationLabel, ErrorShape shape)
    {
        if (HeaderPolicy.FindUnsendable(http.Request.Headers) is not { } header)
        {
            return false;
        }
        if (connector is not null)
        {
            CountCallerFault(connector, operationLabel, CallOutcome.CallerError);
        }
        await OutcomeWriter.ErrorAsync(http, shape, StatusCodes.Status400BadRequest, shape == ErrorShape.Problem ? "invalid_header" : "invalid_request",
            $"Header '{header}' holds a character outside visible ASCII, which no upstream request can carry.", connector?.Options.Id);
        return true;
    }

    /// <summary>A call the caller ended or spoiled before any attempt: in the metrics and the monitoring API, never against the upstream.</summary>
    private void CountCallerFault(ConnectorRuntime connector, string operationLabel, CallOutcome outcome)
    {
        metrics.Call(connector.Options.Id, operationLabel, outcome);
        connector.Stats.RecordCallerFault(outcome);
    }

    /// <summary>
    /// The resilience part, for a call whose body and governance are settled: total timeout → retry → circuit breaker
    /// → per-attempt metrics → <paramref name="forward"/>. Answers it may replace are held back; a final one that
    /// streams has reached the caller already. The caller of this method writes every other answer.
    /// </summary>
    internal async Task<(BoundaryCall Call, Outcome<AttemptOutcome> Outcome)> ExecuteAsync(
        HttpContext http, ConnectorRuntime connector, Func<Task> forward, string operationLabel, bool canRetry, TimeSpan timeout, bool holdAll)
    {
        var realBody = http.Features.Get<IHttpResponseBodyFeature>()!;
        var callerAborted = http.RequestAborted;
        var body = new AttemptResponseBody(realBody, options.Value.MaxHeldResponseBytes, holdAll);
        http.Features.Set<IHttpResponseBodyFeature>(body);
        var callerTimeout = timeout < TimeSpan.FromSeconds(connector.Options.TimeoutSeconds);
        var call = new BoundaryCall(http, forward, connector, operationLabel, canRetry, http.Request.Body.CanSeek, timeout, callerTimeout, body, callerAborted);
        var context = ResilienceContextPool.Shared.Get(callerAborted);
        try
        {
            return (call, await resilience.ExecuteAsync(call, context));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            http.Features.Set(realBody);
            http.RequestAborted = callerAborted;
        }
    }

    /// <summary>
    /// The final step of every door: the contract's answer for how the call ended, in the door's shape. A stream that
    /// failed half-way is cut (never ended as if complete); a caller who left gets nothing.
    /// </summary>
    /// <param name="translateHeld">For a door that speaks another format than its upstream: turns a held upstream answer (a 429's body) into the door's.</param>
    internal async Task AnswerAsync(HttpContext http, BoundaryCall call, Outcome<AttemptOutcome> outcome, ErrorShape shape, HeldTranslation? translateHeld = null)
    {
        var settings = call.Connector.Options;
        var id = settings.Id;
        if (http.Response.HasStarted)
        {
            if (outcome.Exception is not null || outcome.Result.Kind is not (CallOutcome.Success or CallOutcome.ClientError))
            {
                http.Abort();
            }
            return;
        }
        if (call.CallerAborted.IsCancellationRequested)
        {
            return;
        }
        if (outcome.Exception is { } exception)
        {
            // Only Polly's own endings get here: the total timeout while waiting between retries, or a fault of ours.
            http.Response.Clear();
            if (exception is TimeoutRejectedException)
            {
                await ErrorAsync(StatusCodes.Status504GatewayTimeout, "timeout", $"Connector '{id}' did not answer within {call.Timeout.TotalSeconds} s.");
                return;
            }
            LogUnexpected(logger, id, exception.GetType().Name, exception.Message);
            await ErrorAsync(StatusCodes.Status502BadGateway, "general_failure", $"Connector '{id}' failed.");
            return;
        }

        var result = outcome.Result;
        if (result.Kind is CallOutcome.Success or CallOutcome.ClientError)
        {
            if (call.Body.IsHeld)
            {
                await WriteHeldAsync(http, call, shape, translateHeld);
            }
            return; // streamed to the caller already
        }
        http.Response.Clear();
        switch (result)
        {
            case { Kind: CallOutcome.CallerError, StatusCode: StatusCodes.Status504GatewayTimeout }:
                await ErrorAsync(StatusCodes.Status504GatewayTimeout, "timeout",
                    $"Connector '{id}' did not answer within the {call.Timeout.TotalSeconds} s of {TimeoutHeader}; its own timeout is {settings.TimeoutSeconds} s.");
                return;
            case { Kind: CallOutcome.CallerError, StatusCode: StatusCodes.Status413PayloadTooLarge }:
                await ErrorAsync(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "The request body is larger than the gateway accepts.");
                return;
            case { Kind: CallOutcome.CallerError, Error: Yarp.ReverseProxy.Forwarder.ForwarderError.Request or Yarp.ReverseProxy.Forwarder.ForwarderError.RequestCreation }:
                await ErrorAsync(StatusCodes.Status400BadRequest, "invalid_request",
                    $"The request cannot be sent to connector '{id}' as it is (a header or target the HTTP client refuses).");
                return;
            case { Kind: CallOutcome.CallerError }:
                await ErrorAsync(StatusCodes.Status400BadRequest, "invalid_request_body", "The request body could not be read whole (cut short or badly framed).");
                return;
            case { Kind: CallOutcome.ClientCancelled }:
                return;
            case { Kind: CallOutcome.CircuitOpen }:
                OutcomeWriter.RetryAfter(http.Response, result.RetryAfter);
                await ErrorAsync(StatusCodes.Status503ServiceUnavailable, "circuit_open",
                    $"The circuit for connector '{id}' is open; retry after {Math.Ceiling(result.RetryAfter.TotalSeconds)} s.");
                return;
            case { Kind: CallOutcome.Timeout }:
                await ErrorAsync(StatusCodes.Status504GatewayTimeout, "timeout", $"Connector '{id}' did not answer within {call.Timeout.TotalSeconds} s.");
                return;
            case { Overflowed: true }:
                LogUpstreamFailed(logger, id, result.StatusCode, "answer over the hold limit");
                await ErrorAsync(StatusCodes.Status502BadGateway, "http_error",
                    $"Connector '{id}' answered {result.StatusCode} with more than {options.Value.MaxHeldResponseBytes} bytes, more than the gateway holds.");
                return;
            case { Unexpected: { } unexpected }:
                LogUnexpected(logger, id, unexpected.GetType().Name, unexpected.Message);
                await ErrorAsync(StatusCodes.Status502BadGateway, "general_failure", $"Connector '{id}' failed.");
                return;
            default:
                LogUpstreamFailed(logger, id, result.StatusCode, result.Error?.ToString() ?? "status");
                await ErrorAsync(StatusCodes.Status502BadGateway, "http_error", result.Error is null
                    ? $"Connector '{id}' answered {result.StatusCode}."
                    : $"Connector '{id}' is unreachable ({result.Error}).");
                return;
        }

        Task ErrorAsync(int status, string code, string message) => OutcomeWriter.ErrorAsync(http, shape, status, code, message, id);
    }

    /// <summary>A held answer: a 408/429 relayed as it came, or a <c>tools/list</c> answer with the denied and withheld (changed) tools dropped.</summary>
    private async Task WriteHeldAsync(HttpContext http, BoundaryCall call, ErrorShape shape, HeldTranslation? translate)
    {
        var settings = call.Connector.Options;
        var bytes = translate is null ? call.Body.Held.ToArray() : translate(http.Response.StatusCode, call.Body.Held);
        if (call.Body.HoldAll && http.Response.StatusCode is >= 200 and < 300)
        {
            var encoding = http.Response.Headers.ContentEncoding;
            byte[]? filtered;
            try
            {
                filtered = encoding.Count == 0 || encoding == "identity"
                    ? await ToolListFilter.FilterAsync(bytes, http.Response.ContentType, settings.Tools,
                        pins.Judges ? (tools, ct) => pins.FilterAsync(settings.Id, tools, ct) : null, http.RequestAborted)
                    : null;
            }
            catch (ToolPinsUnavailableException)
            {
                http.Response.Clear();
                await PinsUnavailableAsync(http, settings.Id, shape, null);
                return;
            }
            if (filtered is null)
            {
                http.Response.Clear();
                await OutcomeWriter.ErrorAsync(http, shape, StatusCodes.Status502BadGateway, "http_error",
                    $"The tools/list answer of connector '{settings.Id}' cannot be read whole, so its tool rules cannot be applied; it is not passed on.", settings.Id);
                return;
            }
            bytes = filtered;
        }
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    private async Task RefuseBodyAsync(HttpContext http, ConnectorRuntime connector, string operation, BodyRead read, long limit)
    {
        var settings = connector.Options;
        CountCallerFault(connector, operation, read == BodyRead.CallerGone ? CallOutcome.ClientCancelled : CallOutcome.CallerError);
        switch (read)
        {
            case BodyRead.TooLarge:
                await ProblemAsync(http, settings.Id, StatusCodes.Status413PayloadTooLarge, "payload_too_large",
                    $"The request body is larger than the {limit} bytes the gateway reads to judge or resend it.");
                return;
            case BodyRead.Unreadable:
                await ProblemAsync(http, settings.Id, StatusCodes.Status400BadRequest, "invalid_request_body", "The request body could not be read whole (cut short or badly framed).");
                return;
        }
    }

    private static bool TryReadTimeout(HttpRequest request, ConnectorOptions settings, out TimeSpan timeout)
    {
        timeout = TimeSpan.FromSeconds(settings.TimeoutSeconds);
        if (!request.Headers.TryGetValue(TimeoutHeader, out var values))
        {
            return true;
        }
        if (values.Count != 1 || !double.TryParse(values[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            || !double.IsFinite(seconds) || seconds < MinTimeoutSeconds)
        {
            return false;
        }
        timeout = TimeSpan.FromSeconds(Math.Min(seconds, settings.MaxTimeoutSeconds));
        return true;
    }

    /// <summary>The bounded metrics label: an MCP message's method (a batch of mixed methods is <c>other</c>), else the caller's label or the HTTP method.</summary>
    private static string OperationLabel(ConnectorOptions settings, string method, string? label, McpRequest? mcp)
    {
        if (mcp is not { Messages.Count: > 0 })
        {
            return OperationLabels.For(label ?? method, settings);
        }
        var first = mcp.Messages[0].Method;
        for (var i = 1; i < mcp.Messages.Count; i++)
        {
            if (!string.Equals(mcp.Messages[i].Method, first, StringComparison.Ordinal))
            {
                return OperationLabels.Other;
            }
        }
        return OperationLabels.For(first, settings);
    }

    public static Task ProblemAsync(HttpContext http, string connectorId, int status, string code, string detail, IEnumerable<KeyValuePair<string, System.Text.Json.Nodes.JsonNode?>>? extensions = null) =>
        OutcomeWriter.ErrorAsync(http, ErrorShape.Problem, status, code, detail, connectorId, extensions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connector {Connector} failed after retries: status {Status}, {Error}")]
    private static partial void LogUpstreamFailed(ILogger logger, string connector, int status, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Connector {Connector} call failed unexpectedly: {Type}: {Message}")]
    private static partial void LogUnexpected(ILogger logger, string connector, string type, string message);
}

/// <summary>Turns an upstream's held answer (status, body) into the bytes the door answers with.</summary>
internal delegate byte[] HeldTranslation(int status, ReadOnlySpan<byte> body);
