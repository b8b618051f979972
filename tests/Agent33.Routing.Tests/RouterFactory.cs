using Agent33.Routing.Effort;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Tests;

/// <summary>Builds a router the way the service does: a profile, then explicit settings over it.</summary>
internal static class RouterFactory
{
    public static EffortRouter Create(string profile, params (string Key, string Value)[] settings) =>
        Create(Options(profile, settings));

    public static EffortRouter Create(RoutingOptions options)
    {
        var wrapped = Microsoft.Extensions.Options.Options.Create(options);
        return new EffortRouter(wrapped, new PricingCatalog(wrapped));
    }

    public static RoutingOptions Options(string profile, params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("Routing:Profile", profile), .. settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))])
            .Build();
        var options = new RoutingOptions();
        new RoutingProfileSetup(configuration).Configure(options);
        return options;
    }

    public static ValidateOptionsResult Validate(RoutingOptions options) => new RoutingOptionsValidation().Validate(null, options);
}
