using System.Text.Json;
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

    public static IEndpointRouteBuilder MapRoutingApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/routing").WithTags("Routing");

        group.MapPost("/decisions", Decide)
            .RequireAuthorization(Scopes.Write)
            .WithSummary("Route one agent call: effort, model, token budget and estimated cost, as the reference router decides them. A key decides for its own tenant; admin and service keys for any (else 403 cross_tenant_denied).");

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
