using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Effort;

/// <summary>
/// Per-provider/model prices: operator overrides (<c>Routing:PricingOverrides</c>), then the shipped
/// catalogue — exact provider+model, the same model under any provider, a provider priced at zero for
/// any model — all case-insensitive, as the reference looks them up.
/// </summary>
public sealed class PricingCatalog
{
    private readonly Dictionary<(string, string), PricingEntry> _overrides = [];
    private readonly Dictionary<string, PricingEntry> _overridesByModel = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), PricingEntry> _entries = [];
    private readonly Dictionary<string, PricingEntry> _byModel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PricingEntry> _wildcardProviders = new(StringComparer.Ordinal);

    public PricingCatalog(IOptions<RoutingOptions> options)
    {
        using (var stream = typeof(PricingCatalog).Assembly.GetManifestResourceStream("pricing.json")!)
        using (var document = JsonDocument.Parse(stream))
        {
            foreach (var entry in document.RootElement.GetProperty("entries").EnumerateArray())
            {
                var key = (entry.GetProperty("provider").GetString()!.ToLowerInvariant(), entry.GetProperty("model").GetString()!.ToLowerInvariant());
                var parsed = Parse(entry);
                _entries[key] = parsed;
                _byModel.TryAdd(key.Item2, parsed);
            }
            foreach (var wildcard in document.RootElement.GetProperty("wildcard_providers").EnumerateObject())
            {
                _wildcardProviders[wildcard.Name.ToLowerInvariant()] = Parse(wildcard.Value);
            }
        }
        foreach (var entry in options.Value.PricingOverrides)
        {
            var key = (entry.Provider.Trim().ToLowerInvariant(), entry.Model.Trim().ToLowerInvariant());
            var parsed = new PricingEntry(
                entry.InputCostPerMillion ?? 0,
                entry.OutputCostPerMillion ?? 0,
                "user_override",
                string.IsNullOrWhiteSpace(entry.SourceUrl) ? null : entry.SourceUrl.Trim(),
                entry.FetchedAt is { } fetched ? IsoFormat(fetched) : null);
            _overrides[key] = parsed;
            _overridesByModel.TryAdd(key.Item2, parsed);
        }
    }

    public PricingEntry? Lookup(string provider, string model)
    {
        var key = (provider.ToLowerInvariant(), model.ToLowerInvariant());
        return _overrides.GetValueOrDefault(key)
               ?? _entries.GetValueOrDefault(key)
               ?? _byModel.GetValueOrDefault(key.Item2)
               ?? _wildcardProviders.GetValueOrDefault(key.Item1);
    }

    /// <summary>
    /// The price of a model whose provider may be unknown (the gateway reports usage by model): with a provider,
    /// <see cref="Lookup"/>; without, an operator override for the model (the first configured, whatever its
    /// provider), then the catalogue's entry for the model under any provider. Wildcard providers need a provider.
    /// </summary>
    public PricingEntry? LookupModel(string? provider, string model)
    {
        if (!string.IsNullOrEmpty(provider))
        {
            return Lookup(provider, model);
        }
        var key = model.ToLowerInvariant();
        return _overridesByModel.GetValueOrDefault(key) ?? _byModel.GetValueOrDefault(key);
    }

    /// <summary>USD for a call's actual usage — prompt tokens at the input price, completion tokens at the output price — quantized as <see cref="Cost(PricingEntry, int)"/>.</summary>
    public static double Cost(PricingEntry entry, int promptTokens, int completionTokens) =>
        Quantize(entry.InputCostPerMillion * promptTokens / 1_000_000m + entry.OutputCostPerMillion * completionTokens / 1_000_000m);

    /// <summary>USD for <paramref name="tokens"/> input and as many output tokens, quantized to 6 places half-even.</summary>
    public static double Cost(PricingEntry entry, int tokens)
    {
        var total = entry.InputCostPerMillion * tokens / 1_000_000m + entry.OutputCostPerMillion * tokens / 1_000_000m;
        return Quantize(total);
    }

    private static double Quantize(decimal total)
    {
        var quantized = Math.Round(total, 6, MidpointRounding.ToEven);
        return double.Parse(quantized.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static PricingEntry Parse(JsonElement entry) => new(
        decimal.Parse(entry.GetProperty("input_cost_per_million").GetString()!, CultureInfo.InvariantCulture),
        decimal.Parse(entry.GetProperty("output_cost_per_million").GetString()!, CultureInfo.InvariantCulture),
        entry.GetProperty("source").GetString()!,
        entry.GetProperty("source_url").GetString() is { Length: > 0 } url ? url : null,
        entry.TryGetProperty("fetched_at", out var fetched) && fetched.GetString() is { Length: > 0 } at ? at : null);

    /// <summary>Python's <c>datetime.isoformat()</c> of an aware timestamp.</summary>
    private static string IsoFormat(DateTimeOffset value)
    {
        var fraction = value.Ticks % TimeSpan.TicksPerSecond == 0 ? "" : value.ToString(".ffffff", CultureInfo.InvariantCulture);
        var offset = value.Offset;
        var sign = offset < TimeSpan.Zero ? "-" : "+";
        return value.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + fraction + $"{sign}{Math.Abs(offset.Hours):00}:{Math.Abs(offset.Minutes):00}";
    }
}
