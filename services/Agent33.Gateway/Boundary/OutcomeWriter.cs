using System.Globalization;
using System.Text.Json.Nodes;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Problems;

namespace Agent33.Gateway.Boundary;

/// <summary>The error shape of a door: the contract's problem+json, or OpenAI's <c>{"error": {…}}</c> for the LLM APIs.</summary>
public enum ErrorShape
{
    Problem,
    OpenAi,
}

/// <summary>
/// Writes every error the gateway answers, in the door's shape, with the contract's code and the <c>X-Connector-Id</c>
/// of the connector it concerns. The one writer behind every door.
/// </summary>
public static class OutcomeWriter
{
    public const string ConnectorHeader = "X-Connector-Id";

    public static Task ErrorAsync(HttpContext http, ErrorShape shape, int status, string code, string message, string? connectorId = null,
        IEnumerable<KeyValuePair<string, JsonNode?>>? extensions = null)
    {
        if (connectorId is not null && ConnectorCatalog.IsValidId(connectorId))
        {
            http.Response.Headers[ConnectorHeader] = connectorId;
        }
        if (shape == ErrorShape.Problem)
        {
            return ApiProblem.WriteAsync(http, status, code, message, extensions?.ToDictionary(e => e.Key, e => (object?)e.Value));
        }
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new OpenAiError(new OpenAiErrorBody(message, OpenAiType(status, code), code, null)));
    }

    /// <summary><c>Retry-After</c> in whole seconds, at least one.</summary>
    public static void RetryAfter(HttpResponse response, TimeSpan after) =>
        response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    /// <summary>OpenAI's error <c>type</c> for a status, as its own API sets it.</summary>
    private static string OpenAiType(int status, string code) => (status, code) switch
    {
        (429, "budget_exceeded") => "insufficient_quota",
        (429, _) => "rate_limit_error",
        (401, _) => "authentication_error",
        (403, _) => "permission_error",
        ( >= 500, _) => "api_error",
        _ => "invalid_request_error",
    };

    private sealed record OpenAiError(OpenAiErrorBody Error);

    private sealed record OpenAiErrorBody(string Message, string Type, string Code, string? Param);
}
