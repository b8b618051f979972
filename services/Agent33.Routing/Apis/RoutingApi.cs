using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Routing.Effort;
using Agent33.Routing.Telemetry;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Json;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.Routing.Apis;

public static class RoutingApi
{
    private const int MaxTextLength = 256;
    private const int MaxTokensLimit = 10_000_000;
    private const int MaxModelLength = 200;
    private const double MaxEstimatedCost = 1_000_000;

    public static IEndpointRouteBuilder MapRoutingApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/routing").WithTags("Routing");

        group.MapPost("/decisions", Decide)
            .RequireAuthorization(Scopes.Write)
            .WithSummary("Route one agent call: effort, model, token budget and estimated cost, as the reference router decides them. A key decides for its own tenant; admin and service keys for any (else 403 cross_tenant_denied).");

        group.MapPost("/usage", ReportUsage)
            .RequireAuthorization(Scopes.Write)
            .WithSummary("Report an LLM call's actual usage (the provider's prompt and completion tokens): answers it priced by the pricing catalogue, and records actual tokens and cost, and actual ÷ estimated, beside the effort_routing_* metrics. A key reports for its own tenant; admin and service keys for any (else 403 cross_tenant_denied).");

        group.MapPost("/classify", Classify)
            .RequireAuthorization(Scopes.Read)
            .WithSummary("The heuristic's verdict alone, without policies or models.");
        return app;
    }

    public sealed record ClassifyRequest(JsonElement? Inputs, bool? Iterative, int? MaxIterations);

    private static Results<Ok<EffortDecision>, ProblemHttpResult> Decide(
        DecisionRequest request, HttpContext http, EffortRouter router, RoutingMetrics metrics, DecisionExport export, AlertMonitor alerts)
    {
        if ((Validate(request) ?? AuthorizeTenant(request, ApiCaller.From(http))) is { } problem)
        {
            return problem;
        }
        var decision = router.Resolve(request);
        if (!export.TryWrite(request, decision) && export.FailClosed)
        {
            return ApiProblem.ServiceUnavailable("export_failed",
                "The decision could not be written to the decision export, and the export is fail-closed (Routing:Export:FailClosed).");
        }
        metrics.Record(decision);
        alerts.Evaluate();
        return TypedResults.Ok(decision);
    }

    private static Results<Ok<PricedUsage>, ProblemHttpResult> ReportUsage(UsageReport report, HttpContext http, EffortRouter router, RoutingMetrics metrics)
    {
        if ((Validate(report) ?? ApiCaller.From(http).ResolveTenant(report.TenantId).Problem) is { } problem)
        {
            return problem;
        }
        var usage = router.PriceUsage(report.Model!.Trim(), NullIfBlank(report.Provider), report.PromptTokens!.Value, report.CompletionTokens!.Value);
        metrics.RecordUsage(usage, report.Effort, report.EstimatedTokenBudget, report.EstimatedCost);
        return TypedResults.Ok(usage);
    }

    private static ProblemHttpResult? Validate(UsageReport report)
    {
        if (string.IsNullOrWhiteSpace(report.Model))
        {
            return Invalid("model is required.");
        }
        if (report.Model.Trim().Length > MaxModelLength)
        {
            return Invalid($"model must be at most {MaxModelLength} characters.");
        }
        if (report.Provider?.Length > MaxTextLength)
        {
            return Invalid($"provider must be at most {MaxTextLength} characters.");
        }
        foreach (var (field, value) in new[] { ("prompt_tokens", report.PromptTokens), ("completion_tokens", report.CompletionTokens) })
        {
            if (value is not { } tokens)
            {
                return Invalid($"{field} is required.");
            }
            if (tokens is < 0 or > MaxTokensLimit)
            {
                return Invalid($"{field} must be between 0 and {MaxTokensLimit}.");
            }
        }
        if (report.Effort is not null && !EffortLevels.TryParse(report.Effort, out _))
        {
            return Invalid("effort must be low, medium or high.");
        }
        if (report.EstimatedTokenBudget is < 1 or > MaxTokensLimit)
        {
            return Invalid($"estimated_token_budget must be between 1 and {MaxTokensLimit}.");
        }
        if (report.EstimatedCost is { } cost && !(cost is >= 0 and <= MaxEstimatedCost))
        {
            return Invalid($"estimated_cost must be between 0 and {MaxEstimatedCost}.");
        }
        return null;
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static Results<Ok<HeuristicDecision>, ProblemHttpResult> Classify(ClassifyRequest request, EffortRouter router)
    {
        if ((ValidateInputs(request.Inputs) ?? ValidateIterations(request.MaxIterations)) is { } problem)
        {
            return problem;
        }
        return TypedResults.Ok(router.Classify(request.Inputs, request.Iterative ?? false, request.MaxIterations));
    }

    private static ProblemHttpResult? Validate(DecisionRequest request)
    {
        if (string.IsNullOrEmpty(request.DefaultModel))
        {
            return Invalid("default_model is required.");
        }
        if (request.MaxTokens is not { } maxTokens)
        {
            return Invalid("max_tokens is required.");
        }
        if (maxTokens is < 1 or > MaxTokensLimit)
        {
            return Invalid($"max_tokens must be between 1 and {MaxTokensLimit}.");
        }
        foreach (var (field, value) in new[]
                 {
                     ("requested_model", request.RequestedModel), ("default_model", request.DefaultModel), ("effort", request.Effort),
                     ("tenant_id", request.TenantId), ("domain", request.Domain), ("provider", request.Provider),
                 })
        {
            if (value?.Length > MaxTextLength)
            {
                return Invalid($"{field} must be at most {MaxTextLength} characters.");
            }
        }
        return ValidateInputs(request.Inputs) ?? ValidateIterations(request.MaxIterations);
    }

    /// <summary>
    /// A key decides for its own tenant (or names none); admin and service keys (the gateway acting for its
    /// callers) for any. The tenant is compared as the router reads it (trimmed); the request is routed as sent.
    /// </summary>
    private static ProblemHttpResult? AuthorizeTenant(DecisionRequest request, ApiCaller caller)
    {
        var tenant = (request.TenantId ?? "").Trim();
        return tenant.Length == 0 || caller.MayActFor(tenant) ? null : caller.CrossTenantDenied(tenant);
    }

    private static ProblemHttpResult? ValidateInputs(JsonElement? inputs) => inputs switch
    {
        { ValueKind: not (JsonValueKind.Object or JsonValueKind.Null) } => Invalid("inputs must be a JSON object (or null)."),
        // Typed fields refuse such text while binding; inputs are kept as JSON and read later, so they are checked here.
        { } json when !JsonText.IsUnicode(json) => ApiProblem.BadRequest("invalid_json", "inputs hold text that is not Unicode (half a surrogate pair)."),
        _ => null,
    };

    private static ProblemHttpResult? ValidateIterations(int? maxIterations) =>
        maxIterations is < 0 ? Invalid("max_iterations must not be negative.") : null;

    private static ProblemHttpResult Invalid(string detail) => ApiProblem.BadRequest("invalid_request", detail);
}
