using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Catalog;

/// <summary>The catalogue, validated at start: a bad setting stops the gateway with a message naming it.</summary>
public sealed class ConnectorCatalog
{
    public ConnectorCatalog(IConfiguration configuration, IOptions<GovernanceOptions> governance)
    {
        var connectors = configuration.GetSection("Connectors").Get<List<ConnectorOptions>>() ?? [];
        var errors = new List<string>();
        if (!PolicyPacks.IsKnown(governance.Value.PolicyPack))
        {
            errors.Add($"Governance:PolicyPack '{governance.Value.PolicyPack}' is not a policy pack; use one of {string.Join(", ", PolicyPacks.Names)}.");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < connectors.Count; i++)
        {
            var c = connectors[i];
            var at = $"Connectors:{i}";
            if (!IsValidId(c.Id))
            {
                errors.Add($"{at}:Id must be printable ASCII without '/', '?', '#', braces or spaces (got '{c.Id}').");
            }
            else if (!seen.Add(c.Id))
            {
                errors.Add($"{at}:Id '{c.Id}' is used twice.");
            }
            if (c.Kind is not ("http" or "mcp" or "llm"))
            {
                errors.Add($"{at}:Kind must be http, mcp or llm, not '{c.Kind}'.");
            }
            if (c.Kind == "llm" && (c.Models.Count == 0 || c.Models.Any(string.IsNullOrWhiteSpace) || !ConnectorOptions.LlmFormats.Contains(c.Format)))
            {
                errors.Add($"{at}: an llm connector needs Models:<m> (model globs) and a Format of {string.Join(", ", ConnectorOptions.LlmFormats)}, not '{c.Format}'.");
            }
            foreach (var (rule, m) in c.Tools.Arguments.Select((rule, m) => (rule, m)))
            {
                errors.AddRange(rule.Problems().Select(problem => $"{at}:Tools:Arguments:{m}: {problem}."));
            }
            foreach (var destination in c.AllDestinations)
            {
                if (!Uri.TryCreate(destination, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                {
                    errors.Add($"{at}:Destination must be an absolute http(s) URL, not '{destination}'.");
                }
            }
            if (c.Destinations.Count > 0 && (c.Kind == "llm" || c.TakesCallerTargets))
            {
                errors.Add($"{at}:Destinations: an llm connector, or one whose targets come from its callers, has one Destination.");
            }
            if (c.PolicyPack is not null && !PolicyPacks.IsKnown(c.PolicyPack))
            {
                errors.Add($"{at}:PolicyPack '{c.PolicyPack}' is not a policy pack; use one of {string.Join(", ", PolicyPacks.Names)}.");
            }
            if (c.TimeoutSeconds <= 0 || c.MaxTimeoutSeconds < c.TimeoutSeconds)
            {
                errors.Add($"{at}:TimeoutSeconds must be positive and at most {at}:MaxTimeoutSeconds.");
            }
            if (c.StreamIdleTimeoutSeconds <= 0)
            {
                errors.Add($"{at}:StreamIdleTimeoutSeconds must be positive.");
            }
            if (c.RetryAttempts is < 0 or > 10 || c.RetryBaseDelayMilliseconds < 0)
            {
                errors.Add($"{at}:RetryAttempts must be 0 to 10 and {at}:RetryBaseDelayMilliseconds not negative.");
            }
            if (c.Circuit.FailureThreshold < 1 || c.Circuit.HalfOpenSuccessThreshold < 1 || c.Circuit.RecoveryTimeoutSeconds <= 0
                || c.Circuit.MaxRecoveryTimeoutSeconds < c.Circuit.RecoveryTimeoutSeconds)
            {
                errors.Add($"{at}:Circuit needs FailureThreshold and HalfOpenSuccessThreshold of at least 1 and 0 < RecoveryTimeoutSeconds <= MaxRecoveryTimeoutSeconds.");
            }
        }
        if (governance.Value.MaxBufferedBodyBytes < 1 || governance.Value.MaxHeldResponseBytes < 1)
        {
            errors.Add("Governance:MaxBufferedBodyBytes and Governance:MaxHeldResponseBytes must be positive.");
        }
        if (errors.Count > 0)
        {
            throw new OptionsValidationException("Connectors", typeof(ConnectorOptions), errors);
        }
        InOrder = connectors;
        Connectors = connectors.ToDictionary(c => c.Id, StringComparer.Ordinal);
    }

    public IReadOnlyDictionary<string, ConnectorOptions> Connectors { get; }

    /// <summary>The connectors in configuration order (<c>Connectors:0</c> first).</summary>
    public IReadOnlyList<ConnectorOptions> InOrder { get; }

    /// <summary>An id fits a URL path segment and a header value: printable ASCII without separators.</summary>
    public static bool IsValidId(string? id) =>
        !string.IsNullOrEmpty(id) && id.All(ch => ch is > ' ' and < (char)0x7F and not ('/' or '?' or '#' or '{' or '}'));
}
