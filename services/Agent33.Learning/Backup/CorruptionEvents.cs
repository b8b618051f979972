using System.Diagnostics.Metrics;

namespace Agent33.Learning.Backup;

/// <summary>
/// <c>learning_corruption_events_total{kind}</c>: invalid legacy records or payloads, quarantined or rejected. Every
/// kind's series exists from start-up at zero, so the <c>learning_corruption_events</c> rule has data before the
/// first corruption and counts that one too.
/// </summary>
public sealed class CorruptionEvents : IHostedService
{
    public const string Name = "learning_corruption_events_total";

    /// <summary>What can be corrupt: a whole payload, or one record of a state's sections (see StateWriter).</summary>
    public static readonly string[] Kinds = ["payload", "signal", "intake", "map entry", "snapshot"];

    private readonly Counter<long> _events;

    public CorruptionEvents(IMeterFactory meters)
    {
        _events = meters.Create("Agent33.Learning").CreateCounter<long>(Name, description: "Invalid legacy records or payloads, quarantined or rejected, by kind.");
    }

    public void Counted(string kind) => _events.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>Once the telemetry's own hosted service listens (it is registered first), every kind appears at zero.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var kind in Kinds)
        {
            _events.Add(0, new KeyValuePair<string, object?>("kind", kind));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
