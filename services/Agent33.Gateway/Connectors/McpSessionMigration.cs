using System.Text.Json;
using Agent33.Gateway.Llm.Spend;
using Agent33.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;

namespace Agent33.Gateway.Connectors;

/// <summary>
/// Lets a <c>/mcp</c> session go on through any gateway replica, with no session affinity at the load balancer: how it
/// began (its id, the id of the key that began it, the client's <c>initialize</c> parameters) is kept in the gateway's
/// database, and a replica that meets a session id it does not hold takes the session over when the same key presents
/// it (the SDK's session migration). The session then opens its upstream sessions on this replica when it first uses
/// them; the replica it left closes its own at their idle timeout. Any other key, an unknown id, or a session begun more
/// than <c>Mcp:SessionHours</c> ago is answered 404, and the client starts a new session, as the MCP spec says.
/// </summary>
public sealed class McpSessionMigration(
    IServiceScopeFactory scopes, IOptions<McpAggregateOptions> options, TimeProvider time, ILogger<McpSessionMigration> logger) : ISessionMigrationHandler
{
    /// <summary>
    /// The most of a client's <c>initialize</c> parameters kept (a real client's are about a kilobyte): a caller's body
    /// may be up to the service's body limit, and what a session records stays in the shared database for a day.
    /// </summary>
    internal const int MaxRecordedBytes = 16 * 1024;

    public async ValueTask OnSessionInitializedAsync(HttpContext context, string sessionId, InitializeRequestParams initializeParams, CancellationToken cancellationToken)
    {
        var recorded = JsonSerializer.Serialize(initializeParams, McpJsonUtilities.DefaultOptions);
        if (recorded.Length > MaxRecordedBytes)
        {
            logger.LogWarning("/mcp: session {Session} began with {Length} characters of initialize parameters (at most {Max} are recorded); it stays on this replica",
                sessionId, recorded.Length, MaxRecordedBytes);
            return;
        }
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<GatewayDbContext>();
            db.McpSessions.Add(new McpSessionRow
            {
                SessionId = sessionId,
                KeyId = KeyIdOf(context),
                InitializeParams = recorded,
                StartedAt = time.GetUtcNow(),
            });
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is DbUpdateException or Npgsql.NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // The session works on this replica all the same; it cannot move to another.
            logger.LogWarning(exception, "/mcp: session {Session} could not be recorded for the other replicas; it stays on this one", sessionId);
        }
    }

    public async ValueTask<InitializeRequestParams?> AllowSessionMigrationAsync(HttpContext context, string sessionId, CancellationToken cancellationToken)
    {
        McpSessionRow? row;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            row = await scope.ServiceProvider.GetRequiredService<GatewayDbContext>().McpSessions.AsNoTracking()
                .SingleOrDefaultAsync(s => s.SessionId == sessionId, cancellationToken);
        }
        catch (Exception exception) when (exception is Npgsql.NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(exception, "/mcp: session {Session} could not be looked up; the client is told to start a new one", sessionId);
            return null;
        }
        return row is not null && row.KeyId == KeyIdOf(context) && row.StartedAt > time.GetUtcNow() - options.Value.SessionLifetime
            ? JsonSerializer.Deserialize<InitializeRequestParams>(row.InitializeParams, McpJsonUtilities.DefaultOptions)
            : null;
    }

    /// <summary>Deletes the records of sessions too old to move.</summary>
    internal async Task SweepAsync(CancellationToken cancellationToken)
    {
        var before = time.GetUtcNow() - options.Value.SessionLifetime;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<GatewayDbContext>().McpSessions.Where(s => s.StartedAt < before).ExecuteDeleteAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is Npgsql.NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(exception, "/mcp: old sessions could not be deleted this hour");
        }
    }

    private static string KeyIdOf(HttpContext context) => context.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value ?? "";
}

/// <summary>Forgets <c>/mcp</c> sessions begun more than <c>Mcp:SessionHours</c> ago, every hour (and at start).</summary>
public sealed class McpSessionRetention(McpSessionMigration sessions, TimeProvider time) : HourlySweep(time)
{
    protected override Task SweepAsync(CancellationToken cancellationToken) => sessions.SweepAsync(cancellationToken);
}
