using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

/// <summary>Applies the chosen profile before the explicit <c>Routing:*</c> keys are bound over it.</summary>
internal sealed class RoutingProfileSetup(IConfiguration configuration) : IConfigureOptions<RoutingOptions>
{
    private static readonly Lazy<Dictionary<string, JsonElement>> Profiles = new(LoadProfiles);

    public static IReadOnlyCollection<string> Names => Profiles.Value.Keys;

    public void Configure(RoutingOptions options)
    {
        var section = configuration.GetSection(RoutingOptions.Section);
        var name = section[nameof(RoutingOptions.Profile)] is { Length: > 0 } chosen ? chosen : RoutingOptions.DefaultProfile;
        if (!Profiles.Value.TryGetValue(name, out var profile))
        {
            throw new OptionsValidationException(RoutingOptions.Section, typeof(RoutingOptions),
                [$"Routing:Profile '{name}' is not a shipped profile; use one of: {string.Join(", ", Profiles.Value.Keys)}."]);
        }
        Apply(profile, options);
        options.Profile = name;
        section.Bind(options);
    }

    private static void Apply(JsonElement p, RoutingOptions o)
    {
        o.Enabled = p.GetProperty("enabled").GetBoolean();
        o.DefaultEffort = p.GetProperty("default_effort").GetString()!;
        o.HeuristicEnabled = p.GetProperty("heuristic_enabled").GetBoolean();
        o.Models = new PerEffort<string?>
        {
            Low = p.GetProperty("low_model").GetString(),
            Medium = p.GetProperty("medium_model").GetString(),
            High = p.GetProperty("high_model").GetString(),
        };
        o.TokenMultipliers = new PerEffort<double>
        {
            Low = p.GetProperty("low_token_multiplier").GetDouble(),
            Medium = p.GetProperty("medium_token_multiplier").GetDouble(),
            High = p.GetProperty("high_token_multiplier").GetDouble(),
        };
        o.Policies = new PolicyOptions
        {
            Tenant = Map(p.GetProperty("tenant_policies")),
            Domain = Map(p.GetProperty("domain_policies")),
            TenantDomain = Map(p.GetProperty("tenant_domain_policies")),
        };
        o.CostPer1kTokens = p.GetProperty("cost_per_1k_tokens").GetDouble();
        o.Heuristic = new HeuristicOptions
        {
            LowScoreThreshold = p.GetProperty("heuristic_low_score_threshold").GetInt32(),
            HighScoreThreshold = p.GetProperty("heuristic_high_score_threshold").GetInt32(),
            MediumPayloadChars = p.GetProperty("heuristic_medium_payload_chars").GetInt32(),
            LargePayloadChars = p.GetProperty("heuristic_large_payload_chars").GetInt32(),
            ManyInputFieldsThreshold = p.GetProperty("heuristic_many_input_fields_threshold").GetInt32(),
            HighIterationThreshold = p.GetProperty("heuristic_high_iteration_threshold").GetInt32(),
            SimpleMaxChars = p.GetProperty("heuristic_simple_max_chars").GetInt32(),
            SimpleMaxWords = p.GetProperty("heuristic_simple_max_words").GetInt32(),
        };
    }

    private static Dictionary<string, string> Map(JsonElement policies) =>
        policies.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetString()!, StringComparer.Ordinal);

    private static Dictionary<string, JsonElement> LoadProfiles()
    {
        using var stream = typeof(RoutingProfileSetup).Assembly.GetManifestResourceStream("router-profiles.json")!;
        using var document = JsonDocument.Parse(stream);
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
    }
}
