using System.Text.Json.Serialization;

namespace Agent33.Contracts.Learning;

/// <summary>
/// The body of <c>POST /v1/improvements/learning/signals</c>: what the gateway and the routing service post, and what
/// the learning service binds. Every field may be absent; the learning service validates and fills defaults. The
/// alias <c>type</c> and <c>tenant_id</c> are left out of a posted body when unset, so a service's signal reads as
/// the reference's clients send it.
/// </summary>
public sealed record SignalRequest(
    [property: JsonPropertyName("signal_type")] string? SignalType,
    [property: JsonPropertyName("type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Type,
    [property: JsonPropertyName("severity")] string? Severity,
    [property: JsonPropertyName("summary")] string? Summary,
    [property: JsonPropertyName("details")] string? Details,
    [property: JsonPropertyName("source")] string? Source,
    [property: JsonPropertyName("context")] Dictionary<string, string>? Context,
    [property: JsonPropertyName("tenant_id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TenantId)
{
    public const string Path = "/v1/improvements/learning/signals";
}
