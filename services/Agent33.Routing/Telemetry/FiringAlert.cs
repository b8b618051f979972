namespace Agent33.Routing.Telemetry;

/// <summary>A firing rule, as <c>GET /v1/dashboard/alerts</c> lists it.</summary>
public sealed record FiringAlert(string RuleName, string Metric, double CurrentValue, double Threshold, DateTimeOffset TriggeredAt);
