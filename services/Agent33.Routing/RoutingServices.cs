using Agent33.Routing.Effort;
using Agent33.Routing.Telemetry;
using Microsoft.Extensions.Options;
using Agent33.ServiceDefaults.Signals;
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
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RoutingMetrics>());
        builder.Services.AddSingleton<DecisionExport>();
        builder.Services.AddSingleton<AlertMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AlertMonitor>());
        builder.Services.AddLearningServiceClient();
        builder.Services.AddSingleton<LearningSignals>();

        // Histogram buckets that include the alert thresholds, so Prometheus can count decisions (and calls) above them.
        var alerts = new AlertOptions();
        builder.Configuration.GetSection($"{RoutingOptions.Section}:Alerts").Bind(alerts);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddView(RoutingMetrics.EstimatedCost, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.CostBuckets(alerts) })
            .AddView(RoutingMetrics.TokenBudget, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.TokenBuckets(alerts) })
            .AddView(RoutingMetrics.ActualCost, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.CostBuckets(alerts) })
            .AddView(RoutingMetrics.ActualTokens, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.TokenBuckets(alerts) })
            .AddView(RoutingMetrics.TokenEstimateRatio, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.RatioBuckets })
            .AddView(RoutingMetrics.CostEstimateRatio, new ExplicitBucketHistogramConfiguration { Boundaries = RoutingMetrics.RatioBuckets }));
        return builder;
    }
}
