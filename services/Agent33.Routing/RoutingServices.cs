using Agent33.Routing.Effort;
using Agent33.Routing.Telemetry;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using OpenTelemetry.Metrics;

namespace Agent33.Routing;

public static class RoutingServices
{
    public static IHostApplicationBuilder AddRoutingServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IConfigureOptions<RoutingOptions>, RoutingProfileSetup>();
        builder.Services.AddSingleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidation>();
        builder.Services.AddOptions<RoutingOptions>().ValidateOnStart();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<PricingCatalog>();
        builder.Services.AddSingleton<EffortRouter>();
        builder.Services.AddSingleton<RoutingMetrics>();
        builder.Services.AddSingleton<DecisionExport>();
        builder.Services.AddSingleton<AlertMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AlertMonitor>());
        // Alert signals are best effort and posted in the background: a short retry, not the default's long backoff.
#pragma warning disable EXTEXP0001 // replacing the default pipeline for one client is still marked experimental
        builder.Services.AddHttpClient(LearningSignals.ClientName, client => client.BaseAddress = new Uri("https+http://learning-service"))
            .RemoveAllResilienceHandlers()
            .AddResilienceHandler("learning-signal", pipeline => pipeline
                .AddTimeout(TimeSpan.FromSeconds(10))
                .AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = 2, Delay = TimeSpan.FromMilliseconds(200) })
                .AddTimeout(TimeSpan.FromSeconds(3)));
#pragma warning restore EXTEXP0001
        builder.Services.AddSingleton<LearningSignals>();

        // Histogram buckets that include the alert thresholds, so Prometheus can count decisions above them.
        var alerts = new AlertOptions();
        builder.Configuration.GetSection($"{RoutingOptions.Section}:Alerts").Bind(alerts);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView(RoutingMetrics.EstimatedCost, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.CostBuckets(alerts) })
            .AddView(RoutingMetrics.TokenBudget, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.TokenBuckets(alerts) }));
        return builder;
    }
}
