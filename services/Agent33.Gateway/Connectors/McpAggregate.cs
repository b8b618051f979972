using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Agent33.Gateway.Connectors;

/// <summary>What <c>/mcp</c> reads from configuration (section <c>Mcp</c>).</summary>
public sealed class McpAggregateOptions
{
    public const string Section = "Mcp";

    /// <summary>Between a connector's id and its tool, resource or prompt name: <c>mcp:docs__search</c>.</summary>
    public string NameSeparator { get; set; } = "__";

    /// <summary>How often a connector left out of a session's list (down, or its circuit open) is tried again.</summary>
    public double RetryLeftOutSeconds { get; set; } = 10;

    /// <summary>With the gateway's database: how long after it began a session can still move to another replica (<see cref="McpSessionMigration"/>).</summary>
    public double SessionHours { get; set; } = 24;

    internal TimeSpan SessionLifetime => TimeSpan.FromHours(SessionHours);

    /// <summary><c>Mcp:Tenants:&lt;tenant&gt;:Connectors:&lt;n&gt;</c>: connector id globs a tenant's <c>/mcp</c> may use (default: every mcp connector).</summary>
    public Dictionary<string, TenantConnectors> Tenants { get; set; } = new(StringComparer.Ordinal);

    public sealed class TenantConnectors
    {
        public List<string> Connectors { get; set; } = [];
    }
}

/// <summary>
/// <c>/mcp</c>: one MCP endpoint per caller (the official SDK's Streamable HTTP server) over every <c>mcp</c> connector its
/// tenant may use. Tools, resources and prompts are listed from each connector with their names prefixed by the
/// connector's id; a call goes to its connector as an MCP client of that connector's door in this process
/// (<see cref="InProcessDoorHandler"/>), with the caller's own key, so the call meets the connector's admission,
/// governance, pins, argument rules, rate limits, timeout, retry, breaker, metrics and audit as a direct call would.
/// Each client session opens one upstream session per connector, lazily, and closes them with its own.
/// </summary>
public sealed class McpAggregate(
    ConnectorRegistry registry, ConnectorDoor door, IHttpContextFactory contexts, Microsoft.Extensions.Options.IOptions<McpAggregateOptions> options,
    ILoggerFactory loggers)
{
    public const string Path = "/mcp";

    /// <summary>How long a call with a progress token waits after its result for the last progress to be relayed.</summary>
    private static readonly TimeSpan ProgressGrace = TimeSpan.FromMilliseconds(50);
    private readonly ConnectorDoor _door = door;
    private readonly IHttpContextFactory _contexts = contexts;
    private readonly ILoggerFactory _loggers = loggers;
    private readonly ConcurrentDictionary<string, AggregateSession> _sessions = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggers.CreateLogger<McpAggregate>();
    private McpAggregateOptions Settings => options.Value;

    /// <summary>Runs one client session: its upstream sessions live exactly as long as it does.</summary>
    internal async Task RunSessionAsync(HttpContext http, McpServer server, CancellationToken cancellationToken)
    {
        var caller = ApiCaller.From(http);
        // The caller's key, in whichever header admission read it from, so each connector's door admits the caller itself.
        var credentials = new[] { Microsoft.Net.Http.Headers.HeaderNames.Authorization, ApiKeyAuthentication.HeaderName }
            .Where(name => http.Request.Headers.ContainsKey(name))
            .Select(name => (name, http.Request.Headers[name].ToString())).ToArray();
        await using var session = new AggregateSession(this, server, credentials, ConnectorsOf(caller.Tenant));
        var id = server.SessionId ?? Guid.NewGuid().ToString("N");
        _sessions[id] = session;
        try
        {
            await server.RunAsync(cancellationToken);
        }
        finally
        {
            _sessions.TryRemove(id, out _);
        }
    }

    /// <summary>The <c>mcp</c> connectors a tenant's <c>/mcp</c> may use, in configuration order.</summary>
    public IReadOnlyList<ConnectorRuntime> ConnectorsOf(string tenant)
    {
        var globs = Settings.Tenants.TryGetValue(tenant, out var configured) ? configured.Connectors : null;
        return [.. registry.All.Where(c => c.Options.Kind == "mcp" && (globs is null || globs.Any(g => Glob.Matches(g, c.Options.Id, ignoreCase: true))))];
    }

    private AggregateSession SessionOf(McpServer server) =>
        server.SessionId is { } id && _sessions.TryGetValue(id, out var session) ? session
            : throw new McpProtocolException("No aggregate session for this request; initialize a session first.", McpErrorCode.InvalidRequest);

    public async ValueTask<ListToolsResult> ListToolsAsync(RequestContext<ListToolsRequestParams> context, CancellationToken cancellationToken) =>
        new() { Tools = await SessionOf(context.Server).ListAsync<Tool>(RequestMethods.ToolsList, "tools", "name", c => c.Tools, cancellationToken) };

    public async ValueTask<ListResourcesResult> ListResourcesAsync(RequestContext<ListResourcesRequestParams> context, CancellationToken cancellationToken) =>
        new() { Resources = await SessionOf(context.Server).ListAsync<Resource>(RequestMethods.ResourcesList, "resources", "uri", c => c.Resources, cancellationToken) };

    public async ValueTask<ListResourceTemplatesResult> ListResourceTemplatesAsync(RequestContext<ListResourceTemplatesRequestParams> context, CancellationToken cancellationToken) =>
        new() { ResourceTemplates = await SessionOf(context.Server).ListAsync<ResourceTemplate>(RequestMethods.ResourcesTemplatesList, "resourceTemplates", "uriTemplate", c => c.Resources, cancellationToken) };

    public async ValueTask<ListPromptsResult> ListPromptsAsync(RequestContext<ListPromptsRequestParams> context, CancellationToken cancellationToken) =>
        new() { Prompts = await SessionOf(context.Server).ListAsync<Prompt>(RequestMethods.PromptsList, "prompts", "name", c => c.Prompts, cancellationToken) };

    public async ValueTask<CallToolResult> CallToolAsync(RequestContext<CallToolRequestParams> context, CancellationToken cancellationToken) =>
        await SessionOf(context.Server).ForwardAsync<CallToolResult>(context.Server, context.JsonRpcRequest, "name", cancellationToken);

    public async ValueTask<ReadResourceResult> ReadResourceAsync(RequestContext<ReadResourceRequestParams> context, CancellationToken cancellationToken) =>
        await SessionOf(context.Server).ForwardAsync<ReadResourceResult>(context.Server, context.JsonRpcRequest, "uri", cancellationToken);

    public async ValueTask<GetPromptResult> GetPromptAsync(RequestContext<GetPromptRequestParams> context, CancellationToken cancellationToken) =>
        await SessionOf(context.Server).ForwardAsync<GetPromptResult>(context.Server, context.JsonRpcRequest, "name", cancellationToken);

    /// <summary>One client session: its caller's credentials, its connectors, and an upstream session per connector once used.</summary>
    private sealed class AggregateSession(McpAggregate aggregate, McpServer server, (string Name, string Value)[] credentials, IReadOnlyList<ConnectorRuntime> connectors)
        : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<string, Lazy<Task<McpClient>>> _clients = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, bool> _leftOut = new(StringComparer.Ordinal);
        private readonly CancellationTokenSource _closed = new();
        private int _retrying;
        private string Separator => aggregate.Settings.NameSeparator;

        /// <summary>
        /// Every connector's list (all pages), names prefixed; a connector whose server lacks the capability adds nothing,
        /// one that cannot answer is left out, and watched.
        /// </summary>
        public async Task<IList<T>> ListAsync<T>(string method, string property, string key, Func<ServerCapabilities, object?> capability, CancellationToken cancellationToken)
        {
            var lists = await Task.WhenAll(connectors.Select(async connector =>
            {
                var id = connector.Options.Id;
                try
                {
                    var client = await ClientAsync(connector, cancellationToken);
                    var items = new List<JsonObject>();
                    if (capability(client.ServerCapabilities) is null)
                    {
                        return items;
                    }
                    string? cursor = null;
                    do
                    {
                        var result = await SendAsync(client, method, cursor is null ? null : new JsonObject { ["cursor"] = cursor }, cancellationToken);
                        items.AddRange(result?[property] is JsonArray page ? page.OfType<JsonObject>() : []);
                        cursor = result?["nextCursor"]?.GetValue<string>();
                    }
                    while (cursor is not null);
                    _leftOut.TryRemove(id, out _);
                    foreach (var item in items)
                    {
                        item[key] = id + Separator + (string?)item[key];
                    }
                    return items;
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    aggregate._logger.LogWarning("/mcp: connector {Connector} left out of {Method}: {Reason}", id, method, exception.Message);
                    Forget(id);
                    _leftOut[id] = true;
                    WatchLeftOut();
                    return [];
                }
            }));
            return [.. lists.SelectMany(items => items).Select(item => item.Deserialize<T>(McpJsonUtilities.DefaultOptions)!)];
        }

        /// <summary>A request naming one connector's item (<c>params.name</c> or <c>params.uri</c>), sent to that connector with the name it knows.</summary>
        /// <remarks><paramref name="requestServer"/> is the request's own view of the session: what it sends (progress) belongs to that request's answer.</remarks>
        public async Task<T> ForwardAsync<T>(McpServer requestServer, JsonRpcRequest request, string key, CancellationToken cancellationToken)
        {
            var parameters = request.Params?.DeepClone() as JsonObject ?? [];
            var name = (string?)parameters[key] ?? "";
            var connector = connectors.Where(c => name.StartsWith(c.Options.Id + Separator, StringComparison.Ordinal))
                .MaxBy(c => c.Options.Id.Length)
                ?? throw new McpProtocolException($"'{name}' names no connector of this session; names are <connector>{Separator}<name>, as listed.", McpErrorCode.InvalidParams);
            parameters[key] = name[(connector.Options.Id.Length + Separator.Length)..];

            var client = await ClientAsync(connector, cancellationToken);
            // Progress: the upstream's notifications for this call carry the client's own token back.
            IAsyncDisposable? relay = null;
            var relayed = new ConcurrentQueue<Task>();
            if (parameters["_meta"]?["progressToken"] is { } token)
            {
                var upstreamToken = Guid.NewGuid().ToString("N");
                parameters["_meta"]!["progressToken"] = upstreamToken;
                relay = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, ct) =>
                {
                    if (notification.Params is JsonObject progress && (string?)progress["progressToken"] == upstreamToken)
                    {
                        var forwarded = (JsonObject)progress.DeepClone();
                        forwarded["progressToken"] = token.DeepClone();
                        relayed.Enqueue(requestServer.SendMessageAsync(new JsonRpcNotification { Method = NotificationMethods.ProgressNotification, Params = forwarded }, ct));
                    }
                    return ValueTask.CompletedTask;
                });
            }
            try
            {
                var result = await SendAsync(client, request.Method, parameters, cancellationToken);
                if (relay is not null)
                {
                    // The SDK's client hands notifications to their handlers beside the answer, not before it: the last
                    // progress of a call can still be on its way when the result is here. A moment's grace, then every
                    // relayed notification is sent before the result, which ends the caller's answer stream.
                    await Task.Delay(ProgressGrace, cancellationToken);
                    await Task.WhenAll(relayed);
                }
                return Prefixed(connector.Options.Id, result).Deserialize<T>(McpJsonUtilities.DefaultOptions)!;
            }
            finally
            {
                if (relay is not null)
                {
                    await relay.DisposeAsync();
                }
            }
        }

        /// <summary>Resource contents name their resource as listed here: prefixed, so a caller can read it again.</summary>
        private JsonNode? Prefixed(string connector, JsonNode? result)
        {
            foreach (var content in result?["contents"] as JsonArray ?? [])
            {
                if (content is JsonObject item && (string?)item["uri"] is { } uri)
                {
                    item["uri"] = connector + Separator + uri;
                }
            }
            return result;
        }

        private static async Task<JsonNode?> SendAsync(McpClient client, string method, JsonNode? parameters, CancellationToken cancellationToken)
        {
            try
            {
                var response = await client.SendRequestAsync(new JsonRpcRequest { Method = method, Params = parameters }, cancellationToken);
                return response.Result;
            }
            catch (HttpRequestException exception)
            {
                // The connector's door refused or failed the call. Its answer carries the JSON-RPC error it gives every
                // MCP caller (code and reason, e.g. governance_blocked); the SDK puts that answer in the message.
                throw DoorError(exception);
            }
        }

        private static McpProtocolException DoorError(HttpRequestException exception)
        {
            const string marker = "Response body: ";
            var at = exception.Message.IndexOf(marker, StringComparison.Ordinal);
            try
            {
                if (at >= 0 && JsonNode.Parse(exception.Message[(at + marker.Length)..]) is JsonObject body)
                {
                    var error = body["error"] as JsonObject;
                    var message = (string?)error?["message"] ?? (string?)body["detail"];
                    if (message is not null)
                    {
                        var code = body["code"] is JsonValue problem ? $" ({problem})" : "";
                        return new McpProtocolException(message + code, exception,
                            error?["code"] is JsonValue number && number.TryGetValue<int>(out var value) ? (McpErrorCode)value : McpErrorCode.InternalError);
                    }
                }
            }
            catch (JsonException)
            {
                // Not the door's JSON: the SDK's message as it is.
            }
            return new McpProtocolException(exception.Message, exception, McpErrorCode.InternalError);
        }

        private Task<McpClient> ClientAsync(ConnectorRuntime connector, CancellationToken cancellationToken) =>
            _clients.GetOrAdd(connector.Options.Id, id => new Lazy<Task<McpClient>>(() => ConnectAsync(id))).Value.WaitAsync(cancellationToken);

        private async Task<McpClient> ConnectAsync(string id)
        {
            var http = new HttpClient(new InProcessDoorHandler(aggregate._door, aggregate._contexts)) { Timeout = Timeout.InfiniteTimeSpan };
            foreach (var (name, value) in credentials)
            {
                http.DefaultRequestHeaders.TryAddWithoutValidation(name, value);
            }
            var transport = new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = new Uri($"http://gateway{ConnectorRoutes.PathPrefix}/{Uri.EscapeDataString(id)}"),
                TransportMode = HttpTransportMode.StreamableHttp,
                Name = id,
            }, http, aggregate._loggers, ownsHttpClient: true);
            return await McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "agent33-gateway", Version = "1.0" },
            }, aggregate._loggers, _closed.Token);
        }

        private void Forget(string id)
        {
            if (_clients.TryRemove(id, out var client) && client.IsValueCreated && client.Value.IsCompletedSuccessfully)
            {
                _ = client.Value.Result.DisposeAsync().AsTask();
            }
        }

        /// <summary>While a connector is left out, tries it again now and then; when it answers, the client hears that the list changed.</summary>
        private void WatchLeftOut()
        {
            if (Interlocked.Exchange(ref _retrying, 1) == 1)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                try
                {
                    while (!_leftOut.IsEmpty && !_closed.IsCancellationRequested)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(aggregate.Settings.RetryLeftOutSeconds), _closed.Token);
                        foreach (var id in _leftOut.Keys)
                        {
                            try
                            {
                                var client = await ClientAsync(connectors.First(c => c.Options.Id == id), _closed.Token);
                                await SendAsync(client, RequestMethods.ToolsList, null, _closed.Token);
                                _leftOut.TryRemove(id, out _);
                                await server.SendNotificationAsync(NotificationMethods.ToolListChangedNotification, _closed.Token);
                            }
                            catch (Exception) when (!_closed.IsCancellationRequested)
                            {
                                Forget(id);
                            }
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    // The session ended.
                }
                finally
                {
                    Volatile.Write(ref _retrying, 0);
                }
            });
        }

        public async ValueTask DisposeAsync()
        {
            await _closed.CancelAsync();
            foreach (var client in _clients.Values.Where(c => c.IsValueCreated && c.Value.IsCompletedSuccessfully))
            {
                // Closing the upstream client ends its session (a DELETE through the connector's door).
                await client.Value.Result.DisposeAsync();
            }
            _closed.Dispose();
        }
    }
}

public static class McpAggregateExtensions
{
    public static void AddMcpAggregate(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<McpAggregateOptions>().BindConfiguration(McpAggregateOptions.Section);
        builder.Services.AddSingleton<McpAggregate>();
        builder.Services.AddMcpServer(server =>
            {
                server.ServerInfo = new Implementation { Name = "agent33-gateway", Version = "1.0" };
                server.Capabilities = new ServerCapabilities
                {
                    Tools = new ToolsCapability { ListChanged = true },
                    Resources = new ResourcesCapability(),
                    Prompts = new PromptsCapability(),
                };
            })
            .WithHttpTransport(transport =>
            {
                transport.Stateless = false;
#pragma warning disable MCPEXP002 // the only hook that sees a session end, which is when its upstream sessions must close
                transport.RunSessionHandler = (http, server, cancellationToken) =>
                    http.RequestServices.GetRequiredService<McpAggregate>().RunSessionAsync(http, server, cancellationToken);
#pragma warning restore MCPEXP002
            })
            .WithListToolsHandler((context, ct) => Aggregate(context).ListToolsAsync(context, ct))
            .WithCallToolHandler((context, ct) => Aggregate(context).CallToolAsync(context, ct))
            .WithListResourcesHandler((context, ct) => Aggregate(context).ListResourcesAsync(context, ct))
            .WithReadResourceHandler((context, ct) => Aggregate(context).ReadResourceAsync(context, ct))
            .WithListResourceTemplatesHandler((context, ct) => Aggregate(context).ListResourceTemplatesAsync(context, ct))
            .WithListPromptsHandler((context, ct) => Aggregate(context).ListPromptsAsync(context, ct))
            .WithGetPromptHandler((context, ct) => Aggregate(context).GetPromptAsync(context, ct));
    }

    private static McpAggregate Aggregate<T>(RequestContext<T> context) => context.Services!.GetRequiredService<McpAggregate>();

    /// <summary><c>/mcp</c> for callers with the write scope: each request is admitted as every door's are.</summary>
    public static void MapMcpAggregate(this WebApplication app) =>
        app.MapMcp(McpAggregate.Path).RequireAuthorization(Scopes.Write).WithTags("MCP");
}
