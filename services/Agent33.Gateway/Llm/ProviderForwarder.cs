using System.Text.Json;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The forward step of an LLM call: the call, in each serving connector's format (<see cref="Formats.IUpstreamFormat"/>),
/// sent through the boundary pipeline (governance, timeout, breaker, metrics) by YARP with <see cref="ProviderTransformer"/>,
/// its answer relayed through the call's <see cref="UsageTap"/>.
/// </summary>
internal sealed class ProviderForwarder(BoundaryPipeline boundary, IHttpForwarder forwarder, LlmMetrics metrics)
{
    // One HTTP client per connector, kept for the gateway's life: its connections are reused from call to call.
    private readonly Dictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    /// <summary>Forward: the first connector serving the model, through the boundary; on circuit_open, a timeout, a 5xx or a 429 the next.</summary>
    public async Task<((BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? Last, string? Denied)> ForwardAsync(HttpContext http, LlmCall call, UsageTap tap)
    {
        http.Features.Set<IHttpResponseBodyFeature>(tap);
        http.Request.ContentType = "application/json";
        (BoundaryCall Call, Polly.Outcome<AttemptOutcome> Outcome)? last = null;
        ConnectorRuntime? from = null;
        string? denied = null;
        var bodies = new Dictionary<Formats.IUpstreamFormat, byte[]>(1);
        var methodOverrides = HeaderPolicy.MethodOverrides(http.Request.Headers);
        foreach (var connector in call.Candidates)
        {
            if (boundary.Govern(connector.Options, Door.Llm, HttpMethods.Post, null, null, methodOverrides, "POST") is { } denial)
            {
                denied ??= denial.Reason;
                continue;
            }
            var format = Formats.UpstreamFormats.Of(connector.Options.Format);
            var path = call.Embeddings ? format.EmbeddingsPath : format.Path;
            if (path is null)
            {
                call.Untranslatable ??= $"Connector '{connector.Options.Id}' ({connector.Options.Format}) serves no {call.ApiLabel}.";
                continue;
            }
            if (!bodies.TryGetValue(format, out var body))
            {
                try
                {
                    bodies[format] = body = JsonSerializer.SerializeToUtf8Bytes(call.Embeddings ? call.Request : format.FromChat(call.Request));
                }
                catch (Formats.InvalidLlmRequestException ex)
                {
                    call.Untranslatable ??= $"Connector '{connector.Options.Id}' ({connector.Options.Format}): {ex.Message}";
                    continue;
                }
            }
            if (from is not null)
            {
                metrics.Fallback(call.ApiLabel, from.Options.Id, connector.Options.Id);
            }
            http.Request.Body = new MemoryStream(body, writable: false);
            http.Request.Headers.ContentLength = body.Length;
            tap.Decoder = call.Embeddings ? null : format.Answers(new Formats.TranslationContext(call.Model, call.PromptTokens));
            var transformer = new ProviderTransformer(connector.Options, format, path, tap.Translates, call.Decision, call.Model);
            var current = connector;
            var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(connector.Options.StreamIdleTimeoutSeconds) };
            last = await boundary.ExecuteAsync(http, connector,
                async () => await forwarder.SendAsync(http, current.Options.Destination, ClientFor(current.Options), config, transformer),
                "POST", canRetry: false, TimeSpan.FromSeconds(connector.Options.TimeoutSeconds), holdAll: false);
            from = connector;
            var (attempt, outcome) = last.Value;
            var result = outcome.Result;
            var fallBack = !http.Response.HasStarted && outcome.Exception is null && !attempt.CallerAborted.IsCancellationRequested && !tap.EventTooLarge
                           && (result.Kind is CallOutcome.CircuitOpen or CallOutcome.Timeout or CallOutcome.Failure || result is { Kind: CallOutcome.ClientError, StatusCode: 429 });
            if (!fallBack)
            {
                break;
            }
        }
        return (last, denied);
    }

    private HttpMessageInvoker ClientFor(ConnectorOptions connector)
    {
        lock (_clients)
        {
            if (!_clients.TryGetValue(connector.Id, out var client))
            {
                client = new HttpMessageInvoker(new SocketsHttpHandler
                {
                    UseProxy = false,
                    AllowAutoRedirect = false,
                    AutomaticDecompression = System.Net.DecompressionMethods.None,
                    UseCookies = false,
                    ConnectTimeout = TimeSpan.FromSeconds(15),
                    EnableMultipleHttp2Connections = true,
                });
                _clients[connector.Id] = client;
            }
            return client;
        }
    }
}
