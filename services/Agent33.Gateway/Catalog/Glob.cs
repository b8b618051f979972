using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Agent33.Gateway.Catalog;

/// <summary><c>*</c> and <c>?</c> globs, compiled once per pattern.</summary>
public static class Glob
{
    private static readonly ConcurrentDictionary<(string, bool), Regex> Compiled = new();

    public static bool Matches(string glob, string value, bool ignoreCase) =>
        Compiled.GetOrAdd((glob, ignoreCase), static key => new Regex(
            "^" + Regex.Escape(key.Item1).Replace("\\*", ".*").Replace("\\?", ".") + "$",
            RegexOptions.CultureInvariant | RegexOptions.Singleline | (key.Item2 ? RegexOptions.IgnoreCase : RegexOptions.None),
            TimeSpan.FromMilliseconds(50))).IsMatch(value);
}
