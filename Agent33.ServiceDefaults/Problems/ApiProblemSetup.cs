using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.ServiceDefaults.Problems;

/// <summary>
/// Makes the framework's own errors (malformed JSON, unknown route, wrong method, oversized body,
/// unhandled exceptions) answer problem+json with a <c>code</c> too, never a bare status or a stack trace.
/// </summary>
public static class ApiProblemSetup
{
    public static IServiceCollection AddApiProblems(this IServiceCollection services)
    {
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            problem.Extensions.Remove("traceId");
            if (!problem.Extensions.ContainsKey(ApiProblem.CodeKey))
            {
                var code = CodeFor(problem.Status ?? context.HttpContext.Response.StatusCode, context.Exception);
                problem.Extensions[ApiProblem.CodeKey] = code;
                problem.Type = ApiProblem.TypeFor(code);
                if (code == "database_unavailable")
                {
                    // The database is restarting or failing over: a short wait is the caller's best move.
                    context.HttpContext.Response.Headers.RetryAfter = "2";
                }
            }
            if (context.Exception is BadHttpRequestException bad)
            {
                problem.Detail = DescribeBadRequest(bad);
            }
            else if (IsUndecodableText(context.Exception))
            {
                problem.Detail = "The body is not valid UTF-8 text.";
            }
        });
        // Minimal APIs answer a body they cannot bind with a bare 400 unless told to throw; throwing sends it
        // through the exception handler, which gives it a problem document and the invalid_json code.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<ExceptionHandlerOptions>(o =>
        {
            o.StatusCodeSelector = ex => ex switch
            {
                BadHttpRequestException bad => bad.StatusCode,
                _ when IsUndecodableText(ex) => StatusCodes.Status400BadRequest,
                _ when IsDatabaseUnavailable(ex) => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status500InternalServerError,
            };
            // A caller's bad input is not a server error: no error log with a stack trace for it.
            o.SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException || IsUndecodableText(context.Exception);
        });
        return services;
    }

    /// <summary>A database that cannot be reached (or is restarting) is a 503 the caller may retry, not a bug.</summary>
    private static bool IsDatabaseUnavailable(Exception? ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Data.Common.DbException { IsTransient: true } or TimeoutException)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// System.Text.Json checks a body's structure while binding but decodes the UTF-8 inside a string only when
    /// the string is read (a <c>JsonElement</c> field, for one): a broken byte surfaces later, and it is still
    /// the caller's malformed input.
    /// </summary>
    private static bool IsUndecodableText(Exception? ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Text.DecoderFallbackException)
            {
                return true;
            }
        }
        return false;
    }

    private static string CodeFor(int status, Exception? exception) => (status, exception) switch
    {
        (400, var ex) when IsUndecodableText(ex) => "invalid_json",
        (503, var ex) when IsDatabaseUnavailable(ex) => "database_unavailable",
        (_, BadHttpRequestException { InnerException: JsonException }) => "invalid_json",
        (400, _) => "bad_request",
        (401, _) => "unauthenticated",
        (403, _) => "forbidden",
        (404, _) => "not_found",
        (405, _) => "method_not_allowed",
        (413, _) => "payload_too_large",
        (415, _) => "unsupported_media_type",
        (429, _) => "rate_limited",
        (503, _) => "unavailable",
        _ when status >= 500 => "internal_error",
        _ => "error",
    };

    // The framework's message names the parameter and the reason but never internals; keep it.
    private static string DescribeBadRequest(BadHttpRequestException bad) =>
        bad.InnerException is JsonException json
            ? $"The request body is not valid JSON for this route: {json.Message}"
            : bad.Message;
}
