using System.Text.Json;
using System.Text.RegularExpressions;

namespace Agent33.Deploy;

/// <summary>
/// The parts of the AppHost's published Aspire manifest (<c>aspire-manifest.json</c>) the generator
/// needs: projects, containers, parameters, connection strings, and the <c>{resource.path}</c>
/// expressions that wire them together.
/// </summary>
public sealed partial class AspireManifest
{
    private readonly Dictionary<string, JsonElement> _resources;

    private AspireManifest(Dictionary<string, JsonElement> resources) => _resources = resources;

    public static AspireManifest Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var resources = document.RootElement.GetProperty("resources").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        return new AspireManifest(resources);
    }

    public IEnumerable<string> ResourcesOfType(string type) =>
        _resources.Where(r => Type(r.Key) == type).Select(r => r.Key);

    public string Type(string resource) => _resources[resource].GetProperty("type").GetString()!;

    public JsonElement this[string resource] => _resources[resource];

    public bool IsSecretParameter(string resource) =>
        Type(resource) == "parameter.v0"
        && _resources[resource].TryGetProperty("inputs", out var inputs)
        && inputs.TryGetProperty("value", out var value)
        && value.TryGetProperty("secret", out var secret) && secret.GetBoolean();

    public IReadOnlyDictionary<string, string> Env(string resource) =>
        _resources[resource].TryGetProperty("env", out var env)
            ? env.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>();

    /// <summary>
    /// Rewrites a manifest expression into a Kubernetes env value. Secret parameters become
    /// <c>$(VAR)</c> references (Kubernetes expands them from earlier env entries); bindings become
    /// in-cluster DNS names and ports. Returns null when the value cannot be expressed in Kubernetes
    /// (an https binding, or a parameter transformed by a filter such as URI encoding).
    /// </summary>
    public ResolvedValue? Resolve(string expression, Func<string, int> portOf)
    {
        var secrets = new SortedSet<string>(StringComparer.Ordinal);
        var failed = false;
        var text = Placeholder().Replace(expression, match =>
        {
            var path = match.Groups[1].Value.Split('.');
            var resource = path[0];
            switch (path[1..])
            {
                case ["value"] when Type(resource) == "parameter.v0":
                    if (IsSecretParameter(resource))
                    {
                        secrets.Add(resource);
                        return $"$({SecretEnvName(resource)})";
                    }
                    return _resources[resource].GetProperty("value").GetString() ?? "";
                case ["connectionString"]:
                    var inner = Resolve(_resources[resource].GetProperty("connectionString").GetString()!, portOf);
                    if (inner is null)
                    {
                        failed = true;
                        return "";
                    }
                    secrets.UnionWith(inner.Secrets);
                    return inner.Text;
                case ["bindings", "http", "url"]:
                    return $"http://{resource}:{portOf(resource)}";
                case ["bindings", _, "host"]:
                    return resource;
                case ["bindings", _, "port"] or ["bindings", _, "targetPort"]:
                    return portOf(resource).ToString(System.Globalization.CultureInfo.InvariantCulture);
                default:
                    failed = true;
                    return "";
            }
        });
        return failed ? null : new ResolvedValue(text, secrets);
    }

    /// <summary>The resources an expression names, and those their connection strings name in turn (a database names its server).</summary>
    public IReadOnlySet<string> References(string expression)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([expression]);
        while (pending.TryPop(out var text))
        {
            foreach (Match match in Placeholder().Matches(text))
            {
                var resource = match.Groups[1].Value.Split('.')[0];
                if (_resources.ContainsKey(resource) && found.Add(resource)
                    && _resources[resource].TryGetProperty("connectionString", out var connection) && connection.GetString() is { } inner)
                {
                    pending.Push(inner);
                }
            }
        }
        return found;
    }

    /// <summary>The env variable a secret parameter is exposed as, so other values can reference it.</summary>
    public static string SecretEnvName(string parameter) =>
        "AGENT33_SECRET_" + parameter.ToUpperInvariant().Replace('-', '_');

    [GeneratedRegex(@"\{([A-Za-z0-9_.-]+)\}")]
    private static partial Regex Placeholder();
}

/// <summary>A resolved env value and the secret parameters it references.</summary>
public sealed record ResolvedValue(string Text, IReadOnlySet<string> Secrets)
{
    /// <summary>True when the whole value is exactly one secret parameter.</summary>
    public bool IsSingleSecret => Secrets.Count == 1 && Text == $"$({AspireManifest.SecretEnvName(Secrets.First())})";
}
