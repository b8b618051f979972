using System.Globalization;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Agent33.ServiceDefaults.Pages;

/// <summary>
/// The paging query of every list route (the learning service's, the gateway's MCP audit) — <c>limit</c>, <c>after</c> (the cursor from a <c>Link: rel="next"</c>),
/// <c>since</c> and <c>until</c> (ISO 8601; since inclusive, until exclusive) — and the RFC 8288 link to the next page.
/// </summary>
public static class PageRequests
{
    public const int MaxLimit = 1000;

    public static ProblemHttpResult? Parse(string? limit, string? after, string? since, string? until, out PageQuery page)
    {
        page = new PageQuery(50);
        if (ParseInt(limit, "limit", 50, 1, MaxLimit, "invalid_limit", out var count) is { } badLimit)
        {
            return badLimit;
        }
        PageCursor? position = null;
        if (after is not null)
        {
            if (!PageCursor.TryDecode(after, out var cursor))
            {
                return InvalidCursor();
            }
            position = cursor;
        }
        if (ParseTime(since, "since", out var from) is { } badSince)
        {
            return badSince;
        }
        if (ParseTime(until, "until", out var to) is { } badUntil)
        {
            return badUntil;
        }
        if (from > to)
        {
            return ApiProblem.BadRequest("invalid_time", "since must not be later than until.");
        }
        page = new PageQuery(count, position, from, to);
        return null;
    }

    public static ProblemHttpResult InvalidCursor() =>
        ApiProblem.BadRequest("invalid_cursor", "after must be the cursor of a Link: rel=\"next\" this service answered.");

    /// <summary>When more remain: <c>Link: &lt;this route with the same query and after=…&gt;; rel="next"</c>, relative to the request.</summary>
    public static void LinkNext(HttpContext http, PageCursor? next)
    {
        if (next is not { } cursor)
        {
            return;
        }
        var query = new QueryBuilder(http.Request.Query.Where(q => q.Key != "after").SelectMany(q => q.Value.Select(v => KeyValuePair.Create(q.Key, v ?? ""))))
        {
            { "after", cursor.Encode() },
        };
        http.Response.Headers.Link = $"<{http.Request.PathBase}{http.Request.Path}{query.ToQueryString()}>; rel=\"next\"";
    }

    /// <summary>A whole number query value from <paramref name="min"/> to <paramref name="max"/>; <paramref name="fallback"/> when absent.</summary>
    public static ProblemHttpResult? ParseInt(string? text, string name, int fallback, int min, int max, string code, out int value)
    {
        value = fallback;
        if (text is null)
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) || value < min || value > max)
        {
            return ApiProblem.BadRequest(code, $"{name} must be a whole number from {min} to {max}.");
        }
        return null;
    }

    private static ProblemHttpResult? ParseTime(string? text, string name, out DateTimeOffset? value)
    {
        value = null;
        if (text is null)
        {
            return null;
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return ApiProblem.BadRequest("invalid_time", $"{name} must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z.");
        }
        value = parsed;
        return null;
    }
}
