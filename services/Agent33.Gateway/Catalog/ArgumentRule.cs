using System.Text.Json.Nodes;

namespace Agent33.Gateway.Catalog;

/// <summary>
/// A rule on an MCP tool's arguments (<c>Connectors:&lt;n&gt;:Tools:Arguments:&lt;m&gt;</c>): for the tools its
/// <see cref="Tool"/> glob names, the value at <see cref="Pointer"/> (RFC 6901) in <c>params.arguments</c> is judged
/// by every condition set — <see cref="Under"/> (a path below one of these prefixes, after <c>.</c> and <c>..</c> are
/// resolved), <see cref="Hosts"/> (an absolute http(s) URL whose host matches one of these globs), <see cref="Match"/>
/// (a value matching one of these globs). An <c>allow</c> rule refuses a call whose value does not meet them, or is
/// missing (so a rule cannot be stepped around by leaving the argument out); a <c>deny</c> rule refuses one whose value
/// does. An array value is judged element by element.
/// </summary>
public sealed class ArgumentRule
{
    /// <summary>Named in every denial, so a caller and an operator know which rule refused the call.</summary>
    public string Name { get; set; } = "";

    public string Tool { get; set; } = "*";

    public string Pointer { get; set; } = "";

    /// <summary><c>allow</c> (the value must meet the conditions) or <c>deny</c> (it must not).</summary>
    public string Effect { get; set; } = "allow";

    public List<string> Under { get; set; } = [];

    public List<string> Hosts { get; set; } = [];

    public List<string> Match { get; set; } = [];

    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            yield return "Name is required";
        }
        if (!Pointer.StartsWith('/'))
        {
            yield return $"Pointer must be a JSON pointer such as /path, not '{Pointer}'";
        }
        if (Effect is not ("allow" or "deny"))
        {
            yield return $"Effect must be allow or deny, not '{Effect}'";
        }
        if (Under.Count + Hosts.Count + Match.Count == 0)
        {
            yield return "at least one of Under, Hosts or Match is required";
        }
        if (Under.Any(prefix => !prefix.StartsWith('/') && !(prefix.Length > 2 && prefix[1] == ':')))
        {
            yield return "Under holds absolute path prefixes";
        }
    }

    /// <summary>Whether this rule refuses a call of <paramref name="tool"/> with <paramref name="arguments"/>.</summary>
    public bool Refuses(string tool, JsonObject? arguments)
    {
        if (!Glob.Matches(Tool, tool, ignoreCase: true))
        {
            return false;
        }
        var found = JsonPointer.TryFind(arguments, Pointer, out var value);
        var values = value is JsonArray many ? [.. many] : new List<JsonNode?> { value };
        return Effect == "deny"
            ? found && values.Any(Meets)
            : !found || values.Count == 0 || !values.All(Meets);
    }

    private bool Meets(JsonNode? node)
    {
        if (node is not JsonValue scalar)
        {
            return false; // an object or null cannot be judged as a path, host or value
        }
        var text = scalar.TryGetValue<string>(out var s) ? s : scalar.ToJsonString();
        return (Under.Count == 0 || ResolvedPath(text) is { } path && Under.Any(prefix => IsUnder(path, prefix)))
               && (Hosts.Count == 0 || Host(text) is { } host && Hosts.Any(glob => Glob.Matches(glob, host, ignoreCase: true)))
               && (Match.Count == 0 || Match.Any(glob => Glob.Matches(glob, text, ignoreCase: false)));
    }

    /// <summary>An absolute path with <c>.</c> and <c>..</c> resolved and separators unified; null for a relative path or one that climbs above its root.</summary>
    internal static string? ResolvedPath(string path)
    {
        var unified = path.Replace('\\', '/');
        var rooted = unified.StartsWith('/') ? "" : unified.Length > 2 && unified[1] == ':' && unified[2] == '/' ? unified[..2] : null;
        if (rooted is null || unified.Contains('\0'))
        {
            return null;
        }
        var parts = new List<string>();
        foreach (var part in unified[(rooted.Length + 1)..].Split('/'))
        {
            switch (part)
            {
                case "" or ".":
                    break;
                case "..":
                    if (parts.Count == 0)
                    {
                        return null;
                    }
                    parts.RemoveAt(parts.Count - 1);
                    break;
                default:
                    parts.Add(part);
                    break;
            }
        }
        return rooted + "/" + string.Join('/', parts);
    }

    private static bool IsUnder(string path, string prefix)
    {
        var root = (ResolvedPath(prefix) ?? prefix).TrimEnd('/');
        return path.Equals(root, StringComparison.Ordinal) || path.StartsWith(root + "/", StringComparison.Ordinal);
    }

    private static string? Host(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.UserInfo.Length == 0 ? uri.IdnHost.ToLowerInvariant() : null;
}

/// <summary>RFC 6901 JSON pointers over <see cref="JsonNode"/>.</summary>
public static class JsonPointer
{
    public static bool TryFind(JsonNode? root, string pointer, out JsonNode? value)
    {
        value = root;
        if (pointer.Length == 0)
        {
            return root is not null;
        }
        foreach (var raw in pointer[1..].Split('/'))
        {
            var token = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            switch (value)
            {
                case JsonObject obj when obj.TryGetPropertyValue(token, out var next):
                    value = next;
                    break;
                case JsonArray array when int.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index) && index < array.Count:
                    value = array[index];
                    break;
                default:
                    value = null;
                    return false;
            }
        }
        return true;
    }
}
