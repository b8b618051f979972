using Agent33.Routing.Telemetry;
using Agent33.ServiceDefaults.Auth;

namespace Agent33.Routing.Apis;

public static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboardApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/dashboard").WithTags("Dashboard").RequireAuthorization(Scopes.Read);

        group.MapGet("/metrics", (RoutingMetrics metrics) => TypedResults.Ok(metrics.Summary.Snapshot() is { Count: > 0 } summary ? summary : MetricsSummary.EmptyDefault()))
            .WithSummary("Routing metrics in the reference's summary shape: labelled counters, and observations with lifetime and rolling-window statistics; the reference's default body before anything is recorded.");

        group.MapGet("/alerts", (AlertMonitor alerts) => TypedResults.Ok(alerts.Evaluate()))
            .WithSummary("The alert rules firing now, with the time each started firing.");
        return app;
    }
}
