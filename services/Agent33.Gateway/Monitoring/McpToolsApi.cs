using System.Text.Json.Nodes;
using Agent33.Gateway.Mcp;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.Gateway.Monitoring;

/// <summary>Pinned MCP tool definitions: every pin with its pending change and what changed; an admin approves a change.</summary>
public static class McpToolsApi
{
    public sealed record PinsView(string Pinning, IReadOnlyList<ToolPinView> Tools);

    /// <param name="Status"><c>pinned</c> (listed as approved) or <c>changed</c> (a pending definition waits for approval).</param>
    /// <param name="Withheld">Whether the tool is withheld from <c>tools/list</c> and its calls refused (a change under <c>enforce</c>).</param>
    /// <param name="Diff">Where the pending definition differs from the approved one (JSON pointers into the tool, old and new values).</param>
    public sealed record ToolPinView(
        string Connector, string Tool, string Status, bool Withheld, string ApprovedHash, JsonNode? ApprovedDefinition,
        string? PendingHash, JsonNode? PendingDefinition, IReadOnlyList<DefinitionChange> Diff,
        DateTimeOffset FirstSeenAt, DateTimeOffset? ChangedAt, DateTimeOffset? ApprovedAt, string? ApprovedBy);

    public static IEndpointRouteBuilder MapMcpToolsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/mcp/tools").WithTags("MCP");

        group.MapGet("/", async Task<Results<Ok<PinsView>, ProblemHttpResult>> (string? connector, IToolPinStore store, PinningSettings settings, CancellationToken cancellationToken) =>
            {
                try
                {
                    return TypedResults.Ok(new PinsView(Name(settings.Mode), [.. (await store.ListAsync(connector, cancellationToken)).Select(p => View(p, settings.Mode))]));
                }
                catch (ToolPinsUnavailableException)
                {
                    return Unavailable();
                }
            })
            .RequireAuthorization(Scopes.Read).WithSummary("Every pinned MCP tool definition (or one connector's), with pending changes and their diff.");

        group.MapPost("/{connector}/{tool}/approve", async Task<Results<Ok<ToolPinView>, ProblemHttpResult>> (
                string connector, string tool, string? hash, HttpContext http, IToolPinStore store, PinningSettings settings, TimeProvider clock) =>
            {
                var approvedBy = http.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value;
                ApprovalResult result;
                ToolPin? pin;
                try
                {
                    (result, pin) = await store.ApproveAsync(connector, tool, hash, approvedBy, clock.GetUtcNow(), http.RequestAborted);
                }
                catch (ToolPinsUnavailableException)
                {
                    return Unavailable();
                }
                return result switch
                {
                    ApprovalResult.Approved => TypedResults.Ok(View(pin!, settings.Mode)),
                    ApprovalResult.NotFound => ApiProblem.NotFound("tool_not_found", $"Connector '{connector}' has no pinned tool '{tool}'."),
                    ApprovalResult.NothingPending => ApiProblem.Create(StatusCodes.Status409Conflict, "no_pending_change",
                        $"Tool '{tool}' of connector '{connector}' has no changed definition to approve."),
                    // The server changed the tool again since the admin reviewed it: the unseen definition is not approved.
                    _ => ApiProblem.Create(StatusCodes.Status409Conflict, "pending_definition_changed",
                        $"The pending definition of tool '{tool}' of connector '{connector}' is not the one with hash '{hash}'; review GET /v1/mcp/tools again."),
                };
            })
            .RequireAuthorization(Scopes.Admin)
            .WithSummary("Approve a changed MCP tool definition (optionally only if its hash is ?hash=): it is listed and callable again.");
        return app;
    }

    private static ToolPinView View(ToolPin pin, PinningMode mode) => new(
        pin.Connector, pin.Tool, pin.IsWithheld ? "changed" : "pinned", pin.IsWithheld && mode == PinningMode.Enforce,
        pin.ApprovedHash, JsonNode.Parse(pin.ApprovedDefinition), pin.PendingHash, pin.PendingDefinition is null ? null : JsonNode.Parse(pin.PendingDefinition),
        pin.PendingDefinition is null ? [] : ToolDefinitions.Diff(pin.ApprovedDefinition, pin.PendingDefinition),
        pin.FirstSeenAt, pin.ChangedAt, pin.ApprovedAt, pin.ApprovedBy);

    private static ProblemHttpResult Unavailable() =>
        ApiProblem.ServiceUnavailable("tool_pins_unavailable", "The pinned tool definitions cannot be read right now.");

    private static string Name(PinningMode mode) => mode.ToString().ToLowerInvariant();
}
