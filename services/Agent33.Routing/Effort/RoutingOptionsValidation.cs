using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

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
