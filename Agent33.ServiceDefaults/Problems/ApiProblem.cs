using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Agent33.ServiceDefaults.Problems;

/// <summary>
/// RFC 9457 problem+json with the contract's stable machine <c>code</c>. Every error a service
/// answers goes through here (or through the defaults in <see cref="ApiProblemSetup"/>).
/// </summary>
public static class ApiProblem
{
    public const string CodeKey = "code";

    public static ProblemHttpResult Create(int status, string code, string detail, IDictionary<string, object?>? extensions = null)
    {
        var all = new Dictionary<string, object?>(extensions ?? new Dictionary<string, object?>()) { [CodeKey] = code };
        return TypedResults.Problem(detail: detail, statusCode: status, title: TitleFor(status), type: TypeFor(code), extensions: all);
    }

    public static ProblemHttpResult BadRequest(string code, string detail) => Create(StatusCodes.Status400BadRequest, code, detail);

    public static ProblemHttpResult NotFound(string code, string detail) => Create(StatusCodes.Status404NotFound, code, detail);

    public static ProblemHttpResult Forbidden(string code, string detail) => Create(StatusCodes.Status403Forbidden, code, detail);

    public static ProblemHttpResult ServiceUnavailable(string code, string detail) => Create(StatusCodes.Status503ServiceUnavailable, code, detail);

    /// <summary>Writes a problem directly, for middleware that runs outside endpoint results.</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string detail, IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Title = TitleFor(status),
            Type = TypeFor(code),
            Detail = detail,
        };
        if (extensions is not null)
        {
            foreach (var (key, value) in extensions)
            {
                problem.Extensions[key] = value;
            }
        }
        problem.Extensions[CodeKey] = code;
        context.Response.StatusCode = status;
        return TypedResults.Problem(problem).ExecuteAsync(context);
    }

    public static string TypeFor(string code) => "urn:agent33:problem:" + code;

    public static string TitleFor(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
}
