using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Llm.Spend;
using Agent33.ServiceDefaults.Auth;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Mcp;

/// <summary>The MCP audit trail (<c>Mcp:Audit</c>).</summary>
public sealed class McpAuditOptions
{
    public const string Section = "Mcp:Audit";

    /// <summary>Whether a call's arguments are kept (with <see cref="RedactFields"/> redacted); else only their hash.</summary>
    public bool Arguments { get; set; }

    /// <summary>JSON property names, at any depth and in any case, whose values are kept as <see cref="McpAudit.Redacted"/>.</summary>
    public List<string> RedactFields { get; set; } = [];

    /// <summary>How long a record is kept, in days.</summary>
    public double RetentionDays { get; set; } = 90;
}

/// <summary>
/// Records every MCP <c>tools/call</c> the connector door decided: queued here and written in batches by
/// <see cref="McpAuditWriter"/>, so recording never waits for the database. A full queue or a failing database loses
/// records — an error in the log and <c>mcp_audit_dropped_total</c> — and never fails or slows the call.
/// </summary>
public sealed partial class McpAudit
{
    /// <summary>The outcome of a call refused by its tool's rate limit: counted as <c>caller_error</c>, audited by what it was.</summary>
    public const string RateLimited = "rate_limited";

    public const string Redacted = "[redacted]";

    /// <summary>Calls held for the writer: some seconds of a busy gateway while the database is slow.</summary>
    public const int QueueCapacity = 10_000;

    /// <summary>Every outcome a record can hold, for the list's <c>outcome</c> filter.</summary>
    public static readonly IReadOnlySet<string> Outcomes = new HashSet<string>([.. CallOutcomes.Labels, RateLimited], StringComparer.Ordinal);

    private readonly Channel<McpAuditRow> _queue = Channel.CreateBounded<McpAuditRow>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true });
    private readonly TimeProvider _time;
    private readonly McpAuditOptions _options;
    private readonly HashSet<string> _redact;
    private readonly Counter<long> _dropped;
    private readonly ILogger<McpAudit> _logger;

    public McpAudit(TimeProvider time, IOptions<McpAuditOptions> options, IMeterFactory meters, ILogger<McpAudit> logger)
    {
        _time = time;
        _options = options.Value;
        _redact = new HashSet<string>(_options.RedactFields, StringComparer.OrdinalIgnoreCase);
        _dropped = meters.Create(GatewayMetrics.MeterName).CreateCounter<long>("mcp_audit_dropped_total",
            description: "MCP audit records lost: the writer's queue was full or the database failed.");
        _dropped.Add(0);
        _logger = logger;
    }

    public TimeSpan Retention => TimeSpan.FromDays(Math.Max(0, _options.RetentionDays));

    public DateTimeOffset Now => _time.GetUtcNow();

    internal ChannelReader<McpAuditRow> Queue => _queue.Reader;

    /// <summary>Queues a record of each <c>tools/call</c> in <paramref name="request"/> (a batch may hold several).</summary>
    public void Record(HttpContext http, string connector, McpRequest request, string outcome, DateTimeOffset at, TimeSpan duration)
    {
        foreach (var message in request.Messages)
        {
            if (message.Tool is not { } tool)
            {
                continue;
            }
            var arguments = message.Arguments ?? [];
            var row = new McpAuditRow
            {
                Id = Guid.CreateVersion7(at).ToString("N"),
                At = at,
                TenantId = ApiCaller.From(http).Tenant,
                KeyId = http.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value ?? "",
                Connector = connector,
                Tool = tool,
                Outcome = outcome,
                DurationMs = duration.TotalMilliseconds,
                ArgumentsSha256 = Convert.ToHexStringLower(SHA256.HashData(CanonicalJson(arguments, redact: null))),
                Arguments = _options.Arguments ? System.Text.Encoding.UTF8.GetString(CanonicalJson(arguments, _redact)) : null,
            };
            if (!_queue.Writer.TryWrite(row))
            {
                Dropped(1, "the writer's queue is full");
            }
        }
    }

    /// <summary>No more records: the writer writes what is queued and stops.</summary>
    internal void Complete() => _queue.Writer.TryComplete();

    internal void Dropped(int count, string reason)
    {
        _dropped.Add(count);
        LogDropped(_logger, count, reason);
    }

    /// <summary>
    /// JSON with every object's properties in ordinal order and no whitespace, so equal arguments give equal bytes;
    /// with <paramref name="redact"/>, the values of those properties at any depth are <see cref="Redacted"/>.
    /// </summary>
    internal static byte[] CanonicalJson(JsonNode node, IReadOnlySet<string>? redact)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, node, redact);
        }
        return buffer.ToArray();
    }

    private static void Write(Utf8JsonWriter writer, JsonNode? node, IReadOnlySet<string>? redact)
    {
        switch (node)
        {
            case JsonObject obj:
                writer.WriteStartObject();
                foreach (var (name, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(name);
                    if (redact?.Contains(name) == true)
                    {
                        writer.WriteStringValue(Redacted);
                    }
                    else
                    {
                        Write(writer, value, redact);
                    }
                }
                writer.WriteEndObject();
                return;
            case JsonArray array:
                writer.WriteStartArray();
                foreach (var item in array)
                {
                    Write(writer, item, redact);
                }
                writer.WriteEndArray();
                return;
            case null:
                writer.WriteNullValue();
                return;
            default:
                node.WriteTo(writer); // a number keeps its own text: 1.0 and 1 are different arguments
                return;
        }
    }

    /// <summary>Deletes the records older than the retention.</summary>
    public async Task SweepAsync(IMcpAuditStore store, CancellationToken cancellationToken)
    {
        try
        {
            if (await store.ExpireAsync(Now - Retention, cancellationToken) is > 0 and var expired)
            {
                LogExpired(_logger, expired, _options.RetentionDays);
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            LogSweepFailed(_logger, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Count} MCP audit records were lost: {Reason}")]
    private static partial void LogDropped(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} MCP audit records older than {Days} days")]
    private static partial void LogExpired(ILogger logger, int count, double days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The MCP audit trail could not be swept: {Reason}")]
    private static partial void LogSweepFailed(ILogger logger, string reason);
}

/// <summary>Writes the queued audit records in batches; at shutdown, writes what is queued before it stops.</summary>
public sealed class McpAuditWriter(McpAudit audit, IMcpAuditStore store) : BackgroundService
{
    public const int BatchSize = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Not stopped by the token: StopAsync completes the queue, and the loop ends when it is empty.
        var batch = new List<McpAuditRow>(BatchSize);
        while (await audit.Queue.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < BatchSize && audit.Queue.TryRead(out var row))
            {
                batch.Add(row);
            }
            try
            {
                await store.AddAsync(batch, CancellationToken.None);
            }
            catch (Exception ex) // whatever the database does, the writer goes on: a dead writer would lose every later record silently
            {
                audit.Dropped(batch.Count, $"the store failed: {ex.GetType().Name}: {ex.Message}");
            }
            batch.Clear();
        }
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        audit.Complete();
        return base.StopAsync(cancellationToken);
    }
}

/// <summary>Sweeps audit records past their retention, every hour (and at start), as stored responses are swept.</summary>
public sealed class McpAuditRetention(McpAudit audit, IMcpAuditStore store, TimeProvider time) : HourlySweep(time)
{
    protected override Task SweepAsync(CancellationToken cancellationToken) => audit.SweepAsync(store, cancellationToken);
}
