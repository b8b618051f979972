using System.Linq.Expressions;

namespace Agent33.ServiceDefaults.Pages;

/// <summary>
/// Keyset paging over a query (EF's, or rows in memory), one way for every list: <see cref="Within"/> keeps a page's time range,
/// <see cref="NewestFirst"/> adds the position and the order, <see cref="TakePageAsync"/> reads the page.
/// </summary>
public static class Paging
{
    /// <summary>The rows whose time <paramref name="at"/> lies in the page's range: since inclusive, until exclusive.</summary>
    public static IQueryable<T> Within<T>(this IQueryable<T> rows, PageQuery page, Expression<Func<T, DateTimeOffset>> at)
    {
        if (page.Since is { } since)
        {
            rows = rows.Where(Rule<T, DateTimeOffset>((time, _, bound) => time >= bound, at, null, since));
        }
        if (page.Until is { } until)
        {
            rows = rows.Where(Rule<T, DateTimeOffset>((time, _, bound) => time < bound, at, null, until));
        }
        return rows;
    }

    /// <summary>
    /// The page's range, what sorts after its position, newest first by <paramref name="at"/> then by the unique
    /// <paramref name="key"/>. The first bound lets the index range start at the position; the second breaks ties on
    /// the timestamp by key.
    /// </summary>
    public static IOrderedQueryable<T> NewestFirst<T>(
        this IQueryable<T> rows, PageQuery page, Expression<Func<T, DateTimeOffset>> at, Expression<Func<T, string>> key)
    {
        rows = rows.Within(page, at);
        if (page.After is { } after)
        {
            rows = rows.Where(Rule<T, PageCursor>(
                (time, id, position) => time <= position.At && (time < position.At || string.Compare(id, position.Key) < 0), at, key, after));
        }
        return rows.OrderByDescending(at).ThenByDescending(key);
    }

    /// <summary>Reads one row more than the page, to know whether more remain; the last row of the page is where the next starts after.</summary>
    public static async Task<Page<TOut>> TakePageAsync<TRow, TOut>(
        this IQueryable<TRow> ordered, int limit, Func<TRow, PageCursor> position, Func<TRow, TOut> view, CancellationToken ct)
    {
        var found = new List<TRow>(limit + 1);
        if (ordered.Take(limit + 1) is IAsyncEnumerable<TRow> database)
        {
            await foreach (var row in database.WithCancellation(ct))
            {
                found.Add(row);
            }
        }
        else
        {
            found.AddRange(ordered.Take(limit + 1)); // rows in memory: a store without a database
        }
        var more = found.Count > limit;
        if (more)
        {
            found.RemoveAt(limit);
        }
        return new Page<TOut>([.. found.Select(view)], more ? position(found[^1]) : null);
    }

    /// <summary>
    /// <paramref name="rule"/> over a row's time and key, with <paramref name="bound"/> read from a closure, as a
    /// lambda's captured local is: EF sends it as a parameter, so each list keeps one cached query plan.
    /// </summary>
    private static Expression<Func<T, bool>> Rule<T, TBound>(
        Expression<Func<DateTimeOffset, string, TBound, bool>> rule, Expression<Func<T, DateTimeOffset>> at, Expression<Func<T, string>>? key, TBound bound)
    {
        var row = at.Parameters[0];
        Expression<Func<TBound>> captured = () => bound;
        var replacements = new Dictionary<ParameterExpression, Expression>
        {
            [rule.Parameters[0]] = at.Body,
            [rule.Parameters[2]] = captured.Body,
        };
        if (key is not null)
        {
            replacements[rule.Parameters[1]] = new Replace(new() { [key.Parameters[0]] = row }).Visit(key.Body);
        }
        return Expression.Lambda<Func<T, bool>>(new Replace(replacements).Visit(rule.Body), row);
    }

    private sealed class Replace(Dictionary<ParameterExpression, Expression> replacements) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node) => replacements.GetValueOrDefault(node, node);
    }
}
