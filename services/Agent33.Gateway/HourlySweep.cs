namespace Agent33.Gateway;

/// <summary>
/// A retention sweep: <see cref="SweepAsync"/> at start and every hour after, until the gateway stops. Each store that
/// keeps records for a limited time (stored responses, the MCP audit trail) says only what one sweep does.
/// </summary>
public abstract class HourlySweep(TimeProvider time) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromHours(1);

    protected abstract Task SweepAsync(CancellationToken cancellationToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            do
            {
                await SweepAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
