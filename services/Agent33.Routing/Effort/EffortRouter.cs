using System.Text.Json;
using Agent33.Contracts.Routing;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

/// <summary>
/// Chooses an agent call's effort — explicit request, then <c>tenant|domain</c>, tenant and domain policies,
/// then the deterministic heuristic, then the default — and derives model, token budget and cost, exactly
/// as the reference router does.
/// </summary>
public sealed class EffortRouter
{
    private readonly EffortPricing _pricing;
    private readonly bool _enabled;
    private readonly bool _heuristicEnabled;
    private readonly EffortLevel _defaultEffort;
    private readonly PerEffort<string?> _models;
    private readonly PerEffort<double> _multipliers;
    private readonly Dictionary<string, EffortLevel> _tenantPolicies;
    private readonly Dictionary<string, EffortLevel> _domainPolicies;
    private readonly Dictionary<string, EffortLevel> _tenantDomainPolicies;

    public EffortRouter(IOptions<RoutingOptions> options, PricingCatalog pricing)
    {
        var o = options.Value;
        Heuristic = new EffortHeuristic(o.Heuristic);
        _pricing = new EffortPricing(pricing, o.CostPer1kTokens);
        _enabled = o.Enabled;
        _heuristicEnabled = o.HeuristicEnabled;
        _defaultEffort = EffortLevels.TryParse(o.DefaultEffort, out var d) ? d : EffortLevel.Medium;
        _models = new PerEffort<string?>
        {
            Low = NullIfEmpty(o.Models.Low),
            Medium = NullIfEmpty(o.Models.Medium),
            High = NullIfEmpty(o.Models.High),
        };
        _multipliers = o.TokenMultipliers;
        _tenantPolicies = Policies(o.Policies.Tenant, lowerKeys: false);
        _domainPolicies = Policies(o.Policies.Domain, lowerKeys: true);
        _tenantDomainPolicies = Policies(o.Policies.TenantDomain, lowerKeys: true);
    }

    /// <summary>The heuristic the router falls back on when neither the request nor a policy names the effort.</summary>
    public EffortHeuristic Heuristic { get; }

    public EffortDecision Resolve(DecisionRequest request)
    {
        var tenant = (request.TenantId ?? "").Trim();
        var domain = (request.Domain ?? "").Trim().ToLowerInvariant();
        var maxTokens = request.MaxTokens ?? 0;

        EffortLevel effort;
        EffortSource source;
        string? policyKey = null;
        HeuristicDecision? heuristic = null;
        if (request.Effort is not null)
        {
            effort = EffortLevels.TryParse(request.Effort, out var explicitEffort) ? explicitEffort : _defaultEffort;
            source = EffortSource.Request;
        }
        else if (ResolvePolicy(tenant, domain) is ({ } policyEffort, var key))
        {
            effort = policyEffort;
            policyKey = key;
            source = EffortSource.Policy;
        }
        else if (_heuristicEnabled)
        {
            heuristic = Heuristic.Classify(request.Inputs, request.Iterative ?? false, request.MaxIterations);
            EffortLevels.TryParse(heuristic.Effort, out effort);
            source = EffortSource.Heuristic;
        }
        else
        {
            effort = _defaultEffort;
            source = EffortSource.Default;
        }

        string model;
        double multiplier;
        int budget;
        if (_enabled)
        {
            model = NullIfEmpty(request.RequestedModel) ?? _models[effort] ?? request.DefaultModel ?? "";
            multiplier = _multipliers[effort];
            budget = Math.Max(1, (int)(maxTokens * multiplier));
        }
        else
        {
            model = NullIfEmpty(request.RequestedModel) ?? request.DefaultModel ?? "";
            multiplier = 1.0;
            budget = maxTokens;
        }

        var cost = _pricing.Estimate(model, request.Provider, budget);
        return new EffortDecision(
            effort.Name(), source.Name(), model, budget, multiplier, budget,
            cost?.Amount, cost?.Status, cost?.Source, cost?.SourceUrl, cost?.FetchedAt,
            tenant.Length > 0 ? tenant : null,
            domain.Length > 0 ? domain : null,
            policyKey,
            heuristic?.Confidence, heuristic?.Score, heuristic?.LowThreshold, heuristic?.HighThreshold,
            heuristic?.Reasons ?? []);
    }

    /// <summary>The heuristic's verdict alone (<c>POST /v1/routing/classify</c>).</summary>
    public HeuristicDecision Classify(JsonElement? inputs, bool iterative, int? maxIterations) => Heuristic.Classify(inputs, iterative, maxIterations);

    /// <summary>A call's actual usage, priced as its estimate was (<see cref="EffortPricing.PriceUsage"/>).</summary>
    public PricedUsage PriceUsage(string model, string? provider, int promptTokens, int completionTokens) =>
        _pricing.PriceUsage(model, provider, promptTokens, completionTokens);

    private (EffortLevel? Effort, string? Key) ResolvePolicy(string tenant, string domain)
    {
        if (tenant.Length > 0 && domain.Length > 0)
        {
            var composite = $"{tenant}|{domain}";
            if (_tenantDomainPolicies.TryGetValue(composite, out var both))
            {
                return (both, composite);
            }
        }
        if (tenant.Length > 0 && _tenantPolicies.TryGetValue(tenant, out var byTenant))
        {
            return (byTenant, tenant);
        }
        if (domain.Length > 0 && _domainPolicies.TryGetValue(domain, out var byDomain))
        {
            return (byDomain, domain);
        }
        return (null, null);
    }

    private static Dictionary<string, EffortLevel> Policies(Dictionary<string, string> configured, bool lowerKeys)
    {
        var policies = new Dictionary<string, EffortLevel>(StringComparer.Ordinal);
        foreach (var (key, value) in configured)
        {
            var normalized = key.Trim();
            if (normalized.Length == 0 || !EffortLevels.TryParse(value.Trim().ToLowerInvariant(), out var effort))
            {
                continue;
            }
            policies[lowerKeys ? normalized.ToLowerInvariant() : normalized] = effort;
        }
        return policies;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
