using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

/// <summary>
/// The router's settings (<c>Routing:*</c>). <c>Routing:Profile</c> picks one of the shipped profiles
/// (default <c>reference-defaults</c>); any explicit key overrides the profile's value.
/// </summary>
public sealed class RoutingOptions
{
    public const string Section = "Routing";
    public const string DefaultProfile = "reference-defaults";

    public string Profile { get; set; } = DefaultProfile;
    public bool Enabled { get; set; } = true;
    public string DefaultEffort { get; set; } = "medium";
    public bool HeuristicEnabled { get; set; } = true;
    public PerEffort<string?> Models { get; set; } = new();
    public PerEffort<double> TokenMultipliers { get; set; } = new() { Low = 1, Medium = 1, High = 1 };
    public PolicyOptions Policies { get; set; } = new();
    public double CostPer1kTokens { get; set; }
    public HeuristicOptions Heuristic { get; set; } = new();

    /// <summary>Operator pricing entries, looked up before the shipped catalogue (<c>Routing:Pricing:Overrides:&lt;n&gt;</c>).</summary>
    public List<PricingOverride> PricingOverrides { get; set; } = [];

    public AlertOptions Alerts { get; set; } = new();
    public ExportOptions Export { get; set; } = new();
    public DashboardOptions Dashboard { get; set; } = new();
}

public sealed class PerEffort<T>
{
    public T Low { get; set; } = default!;
    public T Medium { get; set; } = default!;
    public T High { get; set; } = default!;

    public T this[EffortLevel effort] => effort switch
    {
        EffortLevel.Low => Low,
        EffortLevel.Medium => Medium,
        _ => High,
    };
}

public sealed class PolicyOptions
{
    public Dictionary<string, string> Tenant { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Domain { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Keys are <c>tenant|domain</c>.</summary>
    public Dictionary<string, string> TenantDomain { get; set; } = new(StringComparer.Ordinal);
}

public sealed class HeuristicOptions
{
    public int LowScoreThreshold { get; set; } = 1;
    public int HighScoreThreshold { get; set; } = 4;
    public int MediumPayloadChars { get; set; } = 800;
    public int LargePayloadChars { get; set; } = 2000;
    public int ManyInputFieldsThreshold { get; set; } = 10;
    public int HighIterationThreshold { get; set; } = 15;
    public int SimpleMaxChars { get; set; } = 160;
    public int SimpleMaxWords { get; set; } = 28;
}

public sealed class PricingOverride
{
    public string Provider { get; set; } = "";
    public string Model { get; set; } = "";
    public decimal? InputCostPerMillion { get; set; }
    public decimal? OutputCostPerMillion { get; set; }
    public string? SourceUrl { get; set; }
    public DateTimeOffset? FetchedAt { get; set; }
}

public sealed class AlertOptions
{
    public bool Enabled { get; set; } = true;
    public double HighEffortCountThreshold { get; set; } = 25;
    public double HighCostUsdThreshold { get; set; } = 5.0;
    public double HighTokenBudgetThreshold { get; set; } = 8000;

    /// <summary>Further rules next to the three defaults (<c>Routing:Alerts:Rules:&lt;n&gt;</c>).</summary>
    public List<AlertRuleOptions> Rules { get; set; } = [];
}

public sealed class AlertRuleOptions
{
    public string Name { get; set; } = "";
    public string Metric { get; set; } = "";
    public double Threshold { get; set; }

    /// <summary><c>gt</c>, <c>lt</c> or <c>eq</c>.</summary>
    public string Comparator { get; set; } = "gt";

    /// <summary><c>value</c>, <c>count</c>, <c>sum</c>, <c>avg</c>, <c>min</c> or <c>max</c>.</summary>
    public string Statistic { get; set; } = "value";
}

public sealed class ExportOptions
{
    /// <summary>JSONL file every decision is appended to; unset = no export.</summary>
    public string? Path { get; set; }

    /// <summary>When the export fails: false = answer the decision anyway (counted), true = 503 <c>export_failed</c>.</summary>
    public bool FailClosed { get; set; }
}

public sealed class DashboardOptions
{
    /// <summary>The rolling window of <c>/v1/dashboard/metrics</c>, next to the lifetime figures.</summary>
    public int WindowSeconds { get; set; } = 300;
}

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

/// <summary>Rejects settings the router cannot honour, naming the setting (the service does not start).</summary>
internal sealed class RoutingOptionsValidation : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions o)
    {
        var errors = new List<string>();
        var h = o.Heuristic;
        if (!EffortLevels.TryParse(o.DefaultEffort, out _))
        {
            errors.Add($"Routing:DefaultEffort must be low, medium or high, not '{o.DefaultEffort}'.");
        }
        if (h.LowScoreThreshold < 0)
        {
            errors.Add("Routing:Heuristic:LowScoreThreshold must not be negative.");
        }
        if (h.HighScoreThreshold <= h.LowScoreThreshold)
        {
            errors.Add($"Routing:Heuristic:HighScoreThreshold ({h.HighScoreThreshold}) must be greater than Routing:Heuristic:LowScoreThreshold ({h.LowScoreThreshold}).");
        }
        if (h.MediumPayloadChars < 1)
        {
            errors.Add("Routing:Heuristic:MediumPayloadChars must be at least 1.");
        }
        if (h.LargePayloadChars <= h.MediumPayloadChars)
        {
            errors.Add($"Routing:Heuristic:LargePayloadChars ({h.LargePayloadChars}) must be greater than Routing:Heuristic:MediumPayloadChars ({h.MediumPayloadChars}).");
        }
        foreach (var (key, value) in new[]
                 {
                     ("ManyInputFieldsThreshold", h.ManyInputFieldsThreshold), ("HighIterationThreshold", h.HighIterationThreshold),
                     ("SimpleMaxChars", h.SimpleMaxChars), ("SimpleMaxWords", h.SimpleMaxWords),
                 })
        {
            if (value < 1)
            {
                errors.Add($"Routing:Heuristic:{key} must be at least 1.");
            }
        }
        foreach (var effort in Enum.GetValues<EffortLevel>())
        {
            if (o.TokenMultipliers[effort] is var m && (m <= 0 || double.IsNaN(m) || double.IsInfinity(m)))
            {
                errors.Add($"Routing:TokenMultipliers:{effort} must be a positive number.");
            }
        }
        if (o.CostPer1kTokens < 0)
        {
            errors.Add("Routing:CostPer1kTokens must not be negative.");
        }
        CheckPolicies(errors, "Tenant", o.Policies.Tenant);
        CheckPolicies(errors, "Domain", o.Policies.Domain);
        CheckPolicies(errors, "TenantDomain", o.Policies.TenantDomain);
        foreach (var key in o.Policies.TenantDomain.Keys.Where(k => k.Split('|') is not [{ Length: > 0 }, { Length: > 0 }]))
        {
            errors.Add($"Routing:Policies:TenantDomain:{key} must be keyed 'tenant|domain'.");
        }
        for (var i = 0; i < o.PricingOverrides.Count; i++)
        {
            var entry = o.PricingOverrides[i];
            if (string.IsNullOrWhiteSpace(entry.Provider) || string.IsNullOrWhiteSpace(entry.Model))
            {
                errors.Add($"Routing:PricingOverrides:{i} needs a Provider and a Model.");
            }
            if (entry.InputCostPerMillion is not >= 0 || entry.OutputCostPerMillion is not >= 0)
            {
                errors.Add($"Routing:PricingOverrides:{i} needs non-negative InputCostPerMillion and OutputCostPerMillion.");
            }
        }
        if (o.Alerts.HighEffortCountThreshold < 0 || o.Alerts.HighCostUsdThreshold < 0 || o.Alerts.HighTokenBudgetThreshold < 0)
        {
            errors.Add("Routing:Alerts thresholds must not be negative.");
        }
        for (var i = 0; i < o.Alerts.Rules.Count; i++)
        {
            var rule = o.Alerts.Rules[i];
            if (string.IsNullOrWhiteSpace(rule.Name) || string.IsNullOrWhiteSpace(rule.Metric))
            {
                errors.Add($"Routing:Alerts:Rules:{i} needs a Name and a Metric.");
            }
            if (rule.Comparator is not ("gt" or "lt" or "eq"))
            {
                errors.Add($"Routing:Alerts:Rules:{i}:Comparator must be gt, lt or eq, not '{rule.Comparator}'.");
            }
            if (rule.Statistic is not ("value" or "count" or "sum" or "avg" or "min" or "max"))
            {
                errors.Add($"Routing:Alerts:Rules:{i}:Statistic must be value, count, sum, avg, min or max, not '{rule.Statistic}'.");
            }
        }
        if (o.Dashboard.WindowSeconds < 1)
        {
            errors.Add("Routing:Dashboard:WindowSeconds must be at least 1.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPolicies(List<string> errors, string kind, Dictionary<string, string> policies)
    {
        foreach (var (key, value) in policies)
        {
            if (!EffortLevels.TryParse(value.Trim().ToLowerInvariant(), out _))
            {
                errors.Add($"Routing:Policies:{kind}:{key} must be low, medium or high, not '{value}'.");
            }
        }
    }
}
