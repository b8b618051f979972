using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Llm.Spend;
using Agent33.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm;

/// <summary>Stored responses (<c>Llm:Responses</c>).</summary>
public sealed class ResponsesOptions
{
    /// <summary>How long a stored response is kept (and can be read or continued), in days.</summary>
    public double RetentionDays { get; set; } = 30;
}

/// <summary>A stored response: the response object as answered, and the conversation it continues as chat messages.</summary>
public sealed record StoredResponse(string Id, string Tenant, DateTimeOffset CreatedAt, string Response, string Conversation)
{
    public JsonArray ConversationMessages() => JsonNode.Parse(Conversation) as JsonArray ?? [];
}

/// <summary>
/// Where stored responses are kept: Postgres (every replica reads what any stored) when <c>ConnectionStrings:gateway</c>
/// is set, else this process's memory, with the same semantics. Every read and delete is scoped to a tenant.
/// </summary>
public interface IResponseStore
{
    Task SaveAsync(StoredResponse response, CancellationToken cancellationToken);

    /// <summary>The tenant's response, when it was stored at or after <paramref name="notBefore"/>; else null.</summary>
    Task<StoredResponse?> GetAsync(string tenant, string id, DateTimeOffset notBefore, CancellationToken cancellationToken);

    /// <summary>Deletes the tenant's response; false when the tenant has none by that id.</summary>
    Task<bool> DeleteAsync(string tenant, string id, CancellationToken cancellationToken);

    /// <summary>Deletes every response stored before <paramref name="before"/>; returns how many.</summary>
    Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken);
}

/// <summary>Stored responses in the gateway's database (<c>llm_responses</c>).</summary>
public sealed class PostgresResponseStore(IServiceScopeFactory scopes) : IResponseStore
{
    public async Task SaveAsync(StoredResponse response, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        db.LlmResponses.Add(new LlmStoredResponseRow
        {
            Id = response.Id, TenantId = response.Tenant, CreatedAt = response.CreatedAt.ToUniversalTime(), Response = response.Response, Conversation = response.Conversation,
        });
        await db.SaveChangesAsync(cancellationToken);
    }

    public async Task<StoredResponse?> GetAsync(string tenant, string id, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var since = notBefore.ToUniversalTime();
        var row = await db.LlmResponses.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id && r.TenantId == tenant && r.CreatedAt >= since, cancellationToken);
        return row is null ? null : new StoredResponse(row.Id, row.TenantId, row.CreatedAt, row.Response, row.Conversation);
    }

    public async Task<bool> DeleteAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        return await db.LlmResponses.Where(r => r.Id == id && r.TenantId == tenant).ExecuteDeleteAsync(cancellationToken) > 0;
    }

    public async Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
        var cutoff = before.ToUniversalTime();
        return await db.LlmResponses.Where(r => r.CreatedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
    }
}

/// <summary>Stored responses in this process only, for a gateway without a database (one replica, lost on restart).</summary>
public sealed class InMemoryResponseStore : IResponseStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, StoredResponse> _responses = new(StringComparer.Ordinal);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _responses.Count;
            }
        }
    }

    public Task SaveAsync(StoredResponse response, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // As the table's primary key: an id is stored once.
            if (!_responses.TryAdd(response.Id, response))
            {
                throw new InvalidOperationException($"A response with id '{response.Id}' is stored already.");
            }
        }
        return Task.CompletedTask;
    }

    public Task<StoredResponse?> GetAsync(string tenant, string id, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_responses.TryGetValue(id, out var stored) && stored.Tenant == tenant && stored.CreatedAt >= notBefore ? stored : null);
        }
    }

    public Task<bool> DeleteAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_responses.TryGetValue(id, out var stored) && stored.Tenant == tenant && _responses.Remove(id));
        }
    }

    public Task<int> ExpireAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var expired = _responses.Values.Where(r => r.CreatedAt < before).Select(r => r.Id).ToList();
            foreach (var id in expired)
            {
                _responses.Remove(id);
            }
            return Task.FromResult(expired.Count);
        }
    }
}

/// <summary>
/// Stored responses for <c>/v1/responses</c>: kept after a successful answer (unless <c>store: false</c>), read and
/// continued by the tenant that stored them, for <c>Llm:Responses:RetentionDays</c> (a response older than that is
/// gone, whether or not the periodic sweep has deleted it yet).
/// </summary>
public sealed partial class StoredResponses(IResponseStore store, TimeProvider time, IOptions<LlmOptions> options, ILogger<StoredResponses> logger)
{
    public TimeSpan Retention => TimeSpan.FromDays(Math.Max(0, options.Value.Responses.RetentionDays));

    public Task<StoredResponse?> GetAsync(string tenant, string id, CancellationToken cancellationToken) =>
        store.GetAsync(tenant, id, time.GetUtcNow() - Retention, cancellationToken);

    public Task<bool> DeleteAsync(string tenant, string id, CancellationToken cancellationToken) => store.DeleteAsync(tenant, id, cancellationToken);

    /// <summary>Keeps an answered response; a store that fails is logged (the caller has its answer already, only the continuation is lost).</summary>
    public async Task SaveAsync(string tenant, JsonObject response, JsonArray conversation)
    {
        var id = response["id"]!.GetValue<string>();
        try
        {
            await store.SaveAsync(new StoredResponse(id, tenant, time.GetUtcNow(), response.ToJsonString(Formats.SseEvent.Options),
                conversation.ToJsonString(Formats.SseEvent.Options)), CancellationToken.None);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or DbUpdateException or InvalidOperationException or TimeoutException)
        {
            LogStoreFailed(logger, id, tenant, ex.Message);
        }
    }

    /// <summary>Deletes the responses older than the retention.</summary>
    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await store.ExpireAsync(time.GetUtcNow() - Retention, cancellationToken) is > 0 and var expired)
            {
                LogExpired(logger, expired, options.Value.Responses.RetentionDays);
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            LogSweepFailed(logger, ex.Message);
        }
    }

    /// <summary><c>GET /v1/responses/{id}</c>: the tenant's stored response object, as it was answered.</summary>
    public static async Task GetEndpointAsync(HttpContext http, string id, StoredResponses responses)
    {
        if (await responses.GetAsync(ApiCaller.From(http).Tenant, id, http.RequestAborted) is not { } stored)
        {
            await NotFoundAsync(http, id);
            return;
        }
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(stored.Response, http.RequestAborted);
    }

    /// <summary><c>DELETE /v1/responses/{id}</c>: deletes the tenant's stored response.</summary>
    public static async Task DeleteEndpointAsync(HttpContext http, string id, StoredResponses responses)
    {
        if (!await responses.DeleteAsync(ApiCaller.From(http).Tenant, id, http.RequestAborted))
        {
            await NotFoundAsync(http, id);
            return;
        }
        await http.Response.WriteAsJsonAsync(new JsonObject { ["id"] = id, ["object"] = "response", ["deleted"] = true }, http.RequestAborted);
    }

    // Another tenant's response is answered as one that does not exist: its id says nothing.
    private static Task NotFoundAsync(HttpContext http, string id) =>
        OutcomeWriter.ErrorAsync(http, ErrorShape.OpenAi, 404, "not_found", $"Response with id '{id}' not found.");

    [LoggerMessage(Level = LogLevel.Error, Message = "Response {Id} of tenant {Tenant} could not be stored: {Reason}")]
    private static partial void LogStoreFailed(ILogger logger, string id, string tenant, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} stored responses older than {Days} days")]
    private static partial void LogExpired(ILogger logger, int count, double days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stored responses could not be swept: {Reason}")]
    private static partial void LogSweepFailed(ILogger logger, string reason);
}

/// <summary>Sweeps stored responses past their retention, every hour (and at start).</summary>
public sealed class ResponseRetention(StoredResponses responses, TimeProvider time) : HourlySweep(time)
{
    protected override Task SweepAsync(CancellationToken cancellationToken) => responses.SweepAsync(cancellationToken);
}
