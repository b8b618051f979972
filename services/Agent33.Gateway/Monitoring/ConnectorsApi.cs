using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.Gateway.Monitoring;

/// <summary>The monitoring API: connectors, their circuits and call metrics; an admin may reset a circuit.</summary>
public static class ConnectorsApi
{
    public sealed record ConnectorView(string ConnectorId, string Name, string ConnectorType, string State, CircuitSnapshot Circuit, CallMetrics Metrics);

    public sealed record HealthView(int Total, int Healthy, int Degraded, int OpenCircuit, int Stopped);

    public static IEndpointRouteBuilder MapConnectorsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/connectors").WithTags("Connectors");

        group.MapGet("/", (ConnectorRegistry registry) => TypedResults.Ok(registry.All.Select(View).ToList()))
            .RequireAuthorization(Scopes.Read).WithSummary("Every connector with its circuit and call metrics.");

        group.MapGet("/health", (ConnectorRegistry registry) =>
            {
                var views = registry.All.Select(View).ToList();
                return TypedResults.Ok(new HealthView(views.Count, views.Count(v => v.State == "healthy"), views.Count(v => v.State == "degraded"),
                    views.Count(v => v.Circuit.State == "open"), views.Count(v => v.State == "stopped")));
            })
            .RequireAuthorization(Scopes.Read).WithSummary("How many connectors are healthy, degraded, open or stopped.");

        group.MapGet("/{connectorId}", Results<Ok<ConnectorView>, ProblemHttpResult> (string connectorId, ConnectorRegistry registry) =>
                registry.Find(connectorId) is { } connector ? TypedResults.Ok(View(connector)) : NotFound(connectorId))
            .RequireAuthorization(Scopes.Read).WithSummary("One connector.");

        group.MapGet("/{connectorId}/events", Results<Ok<IReadOnlyList<CircuitEvent>>, ProblemHttpResult> (string connectorId, int? limit, ConnectorRegistry registry) =>
                limit is < 1 or > 100 ? ApiProblem.BadRequest("invalid_limit", "limit must be between 1 and 100.")
                : registry.Find(connectorId) is { } connector ? TypedResults.Ok(connector.Breaker.Events(limit ?? 20)) : NotFound(connectorId))
            .RequireAuthorization(Scopes.Read).WithSummary("Circuit transitions, newest first.");

        group.MapPost("/{connectorId}/circuit/reset", Results<Ok<ConnectorView>, ProblemHttpResult> (string connectorId, ConnectorRegistry registry) =>
            {
                if (registry.Find(connectorId) is not { } connector)
                {
                    return NotFound(connectorId);
                }
                connector.Breaker.Reset();
                return TypedResults.Ok(View(connector));
            })
            .RequireAuthorization(Scopes.Admin).WithSummary("Close a connector's circuit and reset its backoff.");
        return app;
    }

    /// <summary>Unknown connector ids on the proxy path answer here (configured ones are YARP's routes).</summary>
    public static IEndpointRouteBuilder MapUnknownConnectorFallback(this IEndpointRouteBuilder app)
    {
        app.Map("/connectors/{connectorId}/{**rest}", (string connectorId, HttpContext http) =>
                BoundaryPipeline.ProblemAsync(http, connectorId, StatusCodes.Status404NotFound, "connector_not_found",
                    Catalog.ConnectorCatalog.IsValidId(connectorId) ? $"There is no connector '{connectorId}'." : "There is no connector with that id."))
            .RequireAuthorization(Scopes.Write)
            .ExcludeFromDescription();
        return app;
    }

    private static ConnectorView View(ConnectorRuntime c)
    {
        var circuit = c.Breaker.Snapshot();
        var state = circuit.State switch { "open" => "degraded", "half_open" => "degraded", _ => "healthy" };
        return new ConnectorView(c.Options.Id, c.Options.Name ?? c.Options.Id, c.Options.Kind, state, circuit, c.Stats.Snapshot());
    }

    private static ProblemHttpResult NotFound(string connectorId) =>
        ApiProblem.NotFound("connector_not_found", $"There is no connector '{connectorId}'.");
}
