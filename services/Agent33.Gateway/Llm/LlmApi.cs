using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The gateway as an OpenAI base URL (<c>{gateway}/v1</c>): <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c>,
/// <c>POST /v1/responses</c> (with its stored responses), and as an Anthropic one: <c>POST /v1/messages</c>.
/// <c>model: "auto"</c> (or none) asks the routing service for the call's effort, model and token budget; the model is
/// served by the first <c>llm</c> connector whose globs match it, through the whole boundary pipeline (governance,
/// timeout, breaker, metrics); on <c>circuit_open</c>, a timeout, a 5xx or a 429 the next matching connector is tried.
/// </summary>
public static class LlmApi
{
    public static IEndpointRouteBuilder MapLlmApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/models", (ConnectorCatalog catalog) => TypedResults.Ok(new
            {
                @object = "list",
                data = catalog.Connectors.Values.Where(c => c.Kind == "llm").SelectMany(c => c.Models).Prepend("auto").Distinct()
                    .Select(model => new { id = model, @object = "model", created = 0, owned_by = "agent33" }),
            }))
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("Every model the llm connectors serve, and auto.");
        app.MapGet("/v1/llm/usage", UsageAsync)
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("A tenant's LLM spend per UTC day and model, with its budgets.");
        app.MapPost("/v1/chat/completions", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Chat))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An OpenAI chat completion, effort-routed and governed.")
            .DisableAntiforgery();
        app.MapPost("/v1/messages", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Messages))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An Anthropic Messages call, effort-routed and governed, served by any llm connector's format.")
            .DisableAntiforgery();
        app.MapPost("/v1/embeddings", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Embeddings))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("OpenAI embeddings, governed and charged like any call.")
            .DisableAntiforgery();
        app.MapPost("/v1/responses", (HttpContext http, LlmRouter router) => router.CompleteAsync(http, Responses))
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("An OpenAI Responses call, effort-routed and governed, served by any llm connector's format; stored for the tenant unless store is false.")
            .DisableAntiforgery();
        app.MapGet("/v1/responses/{id}", StoredResponses.GetEndpointAsync)
            .RequireAuthorization(Scopes.Read).WithTags("LLM").WithSummary("A stored response of the caller's tenant.");
        app.MapDelete("/v1/responses/{id}", StoredResponses.DeleteEndpointAsync)
            .RequireAuthorization(Scopes.Write).WithTags("LLM").WithSummary("Deletes a stored response of the caller's tenant.");
        return app;
    }

    private static readonly Formats.ChatCompletionsApi Chat = new();
    private static readonly Formats.MessagesApi Messages = new();
    private static readonly Formats.EmbeddingsApi Embeddings = new();
    private static readonly Formats.ResponsesApi Responses = new();

    public sealed record UsageRow(string Day, string Model, long Requests, long PromptTokens, long CompletionTokens, decimal CostUsd, decimal? BudgetUsd, long? BudgetTokens,
        bool Estimated, long EstimatedRequests);

    private static async Task<IResult> UsageAsync(HttpContext http, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "tenant_id")] string? tenantIdParameter, string? tenantId,
        int? days, Spend.ISpendStore spend, Spend.Budgets budgets)
    {
        if (days is < 1 or > 366)
        {
            return Agent33.ServiceDefaults.Problems.ApiProblem.BadRequest("invalid_days", "days must be between 1 and 366.");
        }
        // The contract's name is tenant_id; tenantId is still read for callers of the first version.
        var resolved = ApiCaller.From(http).ResolveTenant(tenantIdParameter ?? tenantId);
        if (resolved.Problem is { } problem)
        {
            return problem;
        }
        var tenant = resolved.Tenant!;
        var today = budgets.Today;
        var rows = await spend.RangeAsync(tenant, today.AddDays(-(days ?? 7) + 1), today, http.RequestAborted);
        var now = await spend.DayAsync(tenant, today, http.RequestAborted);
        var budget = budgets.For(tenant);
        return TypedResults.Ok(new
        {
            tenant_id = tenant,
            today = new { spent_tokens = now.Tokens, spent_usd = now.CostUsd, reserved_tokens = now.ReservedTokens, reserved_usd = now.ReservedUsd,
                budget_usd = budget?.DailyUsd, budget_tokens = budget?.DailyTokens },
            usage = rows.Select(r => new UsageRow(r.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), r.Model, r.Requests,
                r.PromptTokens, r.CompletionTokens, r.CostUsd, budget?.DailyUsd, budget?.DailyTokens, r.EstimatedRequests > 0, r.EstimatedRequests)),
        });
    }
}
