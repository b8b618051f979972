using System.Globalization;
using Agent33.Contracts;
using Agent33.Contracts.Learning;
using Agent33.ServiceDefaults.Signals;

namespace Agent33.Routing.Telemetry;

/// <summary>Posts a learning signal to the learning service (found through service discovery) when an alert starts firing.</summary>
public sealed partial class LearningSignals(IHttpClientFactory clients, IConfiguration configuration, ILogger<LearningSignals> logger)
{
    public async Task<bool> PostAlertAsync(FiringAlert alert, CancellationToken cancellationToken)
    {
        var value = alert.CurrentValue.ToString(CultureInfo.InvariantCulture);
        var threshold = alert.Threshold.ToString(CultureInfo.InvariantCulture);
        var signal = new SignalRequest(
            SignalType: "performance",
            Type: null,
            Severity: "high",
            Summary: $"Routing alert {alert.RuleName} started firing: {alert.Metric} is {value} against threshold {threshold}",
            Details: $"The routing service's alert rule '{alert.RuleName}' started firing at {alert.TriggeredAt:O}. " +
                     "See docs/operators/alerts.md for what the rule means and how to tune it.",
            Source: "routing-service",
            Context: new Dictionary<string, string>
            {
                ["rule"] = alert.RuleName,
                ["metric"] = alert.Metric,
                ["current_value"] = value,
                ["threshold"] = threshold,
            },
            TenantId: null);
        try
        {
            var status = await clients.PostSignalAsync(configuration[SharedSettings.ServiceApiKey], signal, cancellationToken);
            if ((int)status is >= 200 and < 300)
            {
                LogPosted(logger, alert.RuleName);
                return true;
            }
            LogRejected(logger, alert.RuleName, (int)status);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested) // whatever the failure, the background loop must live on
        {
            LogUnreachable(logger, alert.RuleName, ex.Message);
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Alert {Rule} started firing; learning signal recorded")]
    private static partial void LogPosted(ILogger logger, string rule);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert {Rule} started firing; the learning service answered {Status} to its signal")]
    private static partial void LogRejected(ILogger logger, string rule, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert {Rule} started firing; the learning service is unreachable: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, string rule, string reason);
}
