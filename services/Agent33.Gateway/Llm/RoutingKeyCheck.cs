using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm;

/// <summary>
/// At start-up: a gateway serving <c>llm</c> connectors asks routing for every <c>model: "auto"</c> call's decision
/// with <c>ServiceApiKey</c>. Without one routing answers 401 and every such call silently takes
/// <c>Llm:DefaultModel</c>, so the missing setting is logged at error, by name, before the first call.
/// </summary>
public sealed partial class RoutingKeyCheck(ConnectorRegistry registry, IConfiguration configuration, ILogger<RoutingKeyCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var llm = registry.All.Where(c => c.Options.Kind == "llm").Select(c => c.Options.Id).ToList();
        if (llm.Count > 0 && string.IsNullOrWhiteSpace(configuration[Agent33.Contracts.SharedSettings.ServiceApiKey]))
        {
            LogMissing(logger, string.Join(", ", llm));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "ServiceApiKey is not set, but llm connectors are configured ({Connectors}): the routing service "
        + "will refuse the gateway (401) and every model \"auto\" call will take Llm:DefaultModel. Set ServiceApiKey to a key with the service scope.")]
    private static partial void LogMissing(ILogger logger, string connectors);
}
