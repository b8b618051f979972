using System.Globalization;
using System.Text.Json.Nodes;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Problems;

namespace Agent33.Gateway.Boundary;

/// <summary>
/// The error shape of a door: the contract's problem+json, OpenAI's <c>{"error": {…}}</c> for the OpenAI-style LLM
/// APIs, Anthropic's <c>{"type": "error", "error": {…}}</c> for <c>/v1/messages</c>.
/// </summary>
public enum ErrorShape
{
    Problem,
    OpenAi,
    Anthropic,
}

/// <summary>
/// Writes every error the gateway answers, in the door's shape, with the contract's code and the <c>X-Connector-Id</c>
/// of the connector it concerns. The one writer behind every door.
/// </summary>
public static class OutcomeWriter
{
    public const string ConnectorHeader = "X-Connector-Id";

    /// <summary>The contract's error code, for shapes that have no field for it (Anthropic's).</summary>
    public const string ErrorCodeHeader = "X-Agent33-Error-Code";

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
        if (shape == ErrorShape.Anthropic)
        {
            // Anthropic's shape has no code field; the contract's code travels in X-Agent33-Error-Code.
            http.Response.Headers[ErrorCodeHeader] = code;
            return http.Response.WriteAsJsonAsync(new AnthropicError("error", new AnthropicErrorBody(AnthropicType(status), message)));
        }
        return http.Response.WriteAsJsonAsync(new OpenAiError(new OpenAiErrorBody(message, OpenAiType(status, code), code, null)));
    }

    /// <summary>An error in the door's shape, with the contract's code, replacing whatever a failed attempt left.</summary>
    public static Task ReplaceWithErrorAsync(HttpContext http, ErrorShape shape, int status, string code, string message)
    {
        http.Response.Clear();
        return ErrorAsync(http, shape, status, code, message);
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

    /// <summary>Anthropic's error <c>type</c> for a status, as its own API sets it.</summary>
    public static string AnthropicType(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    private sealed record OpenAiError(OpenAiErrorBody Error);

    private sealed record OpenAiErrorBody(string Message, string Type, string Code, string? Param);

    private sealed record AnthropicError(string Type, AnthropicErrorBody Error);

    private sealed record AnthropicErrorBody(string Type, string Message);
}
