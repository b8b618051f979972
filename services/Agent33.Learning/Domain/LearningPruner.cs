using Microsoft.Extensions.Options;

namespace Agent33.Learning.Domain;

/// <summary>Enforces retention and caps every few seconds, off the write path.</summary>
public sealed partial class LearningPruner(StatePruning pruning, IOptions<LearningOptions> options, TimeProvider time, ILogger<LearningPruner> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.PruneIntervalSeconds), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var (signals, intakes) = await pruning.PruneAsync(stoppingToken);
                if (signals + intakes > 0)
                {
                    LogPruned(logger, signals, intakes);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.Message); // the database may be down; the next tick tries again
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Signals} signal(s) and {Intakes} intake(s) past retention or caps")]
    private static partial void LogPruned(ILogger logger, int signals, int intakes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pruning learning signals failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
