using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Llm.Spend;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Pages;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Mcp;

/// <summary>One audit record as the API answers it; <c>arguments</c> only when they were kept.</summary>
public sealed record McpAuditEntry(
    string Id, DateTimeOffset At, string TenantId, string KeyId, string Connector, string Tool, string Outcome, double DurationMs,
    string ArgumentsSha256, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] JsonNode? Arguments)
{
    public static McpAuditEntry From(McpAuditRow row) => new(row.Id, row.At, row.TenantId, row.KeyId, row.Connector, row.Tool, row.Outcome,
        row.DurationMs, row.ArgumentsSha256, row.Arguments is null ? null : JsonNode.Parse(row.Arguments));
}

/// <summary>
/// <c>GET /v1/mcp/audit</c> and <c>/v1/mcp/audit/export</c>: a tenant's MCP tool calls, newest first, paged and
/// exported as the learning service's signals are (<see cref="PageRequests"/>, NDJSON).
/// </summary>
public static class McpAuditApi
{
    public const string ExportContentType = "application/x-ndjson";
    private const int ExportPageSize = 1000;

    public static WebApplication MapMcpAuditApi(this WebApplication app)
    {
        var group = app.MapGroup("/v1/mcp/audit").WithTags("MCP").RequireAuthorization(Scopes.Read);
        group.MapGet("", ListAsync)
            .WithSummary("The tenant's MCP tool calls newest first, filtered by tool, connector, outcome and time (since, until); paged by Link: rel=\"next\".");
        group.MapGet("/export", ExportAsync)
            .WithSummary("Every matching MCP tool call as NDJSON (one per line, newest first), streamed in constant memory; filters as GET /v1/mcp/audit.")
            .Produces(StatusCodes.Status200OK, contentType: ExportContentType);
        return app;
    }

    private static async Task<Results<Ok<List<McpAuditEntry>>, ProblemHttpResult>> ListAsync(HttpContext http, IMcpAuditStore store,
        string? tenant_id, string? tool, string? connector, string? outcome, string? limit, string? after, string? since, string? until, CancellationToken ct)
    {
        if (Query(http, tenant_id, tool, connector, outcome, limit, after, since, until, out var filter, out var page) is { } invalid)
        {
            return invalid;
        }
        var found = await store.ListAsync(filter, page, ct);
        PageRequests.LinkNext(http, found.Next);
        return TypedResults.Ok(found.Items.ConvertAll(McpAuditEntry.From));
    }

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportAsync(HttpContext http, IMcpAuditStore store,
        IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, string? tenant_id, string? tool, string? connector, string? outcome,
        string? since, string? until, CancellationToken ct)
    {
        if (Query(http, tenant_id, tool, connector, outcome, null, null, since, until, out var filter, out var range) is { } invalid)
        {
            return invalid;
        }
        http.Response.ContentType = ExportContentType;
        // Page by page through the list's keyset: memory stays flat, and records written meanwhile are not included.
        var output = http.Response.BodyWriter;
        await using var writer = new Utf8JsonWriter(output);
        var page = range with { Limit = ExportPageSize, After = null };
        while (true)
        {
            var found = await store.ListAsync(filter, page, ct);
            foreach (var row in found.Items)
            {
                JsonSerializer.Serialize(writer, McpAuditEntry.From(row), json.Value.SerializerOptions);
                writer.Flush();
                writer.Reset();
                output.Write("\n"u8);
            }
            await output.FlushAsync(ct);
            if (found.Next is not { } next)
            {
                return TypedResults.Empty;
            }
            page = page with { After = next };
        }
    }

    /// <summary>What the list and the export share: the page, a known outcome, and a tenant the key may read (its own; any for admin and service keys).</summary>
    private static ProblemHttpResult? Query(HttpContext http, string? tenantId, string? tool, string? connector, string? outcome,
        string? limit, string? after, string? since, string? until, out McpAuditFilter filter, out PageQuery page)
    {
        filter = new McpAuditFilter("");
        if (PageRequests.Parse(limit, after, since, until, out page) is { } badPage)
        {
            return badPage;
        }
        if (outcome is not null && !McpAudit.Outcomes.Contains(outcome))
        {
            return ApiProblem.BadRequest("invalid_outcome", $"outcome must be one of {string.Join(", ", McpAudit.Outcomes)}.");
        }
        var tenant = ApiCaller.From(http).ResolveTenant(tenantId);
        if (tenant.Problem is { } denied)
        {
            return denied;
        }
        filter = new McpAuditFilter(tenant.Tenant!, tool, connector, outcome);
        return null;
    }
}
