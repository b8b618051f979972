using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>The spend step's instruments: reservations, invalid provider usage, cut events, spend that failed to record.</summary>
public sealed class SpendMetrics
{
    private readonly Counter<long> _reservations;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _invalidUsage;
    private readonly Counter<long> _eventsTooLarge;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _estimated;

    public SpendMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(GatewayMetrics.MeterName);
        _reservations = meter.CreateCounter<long>("llm_reservations_total", description: "Budget reservations by result (granted, refused).");
        _expired = meter.CreateCounter<long>("llm_reservations_expired_total", description: "Reservations no replica settled (a crashed replica's) that expired and were released.");
        _expired.Add(0);
        _invalidUsage = meter.CreateCounter<long>("llm_usage_invalid_total", description: "Provider usage that was negative or absurd and was not stored as given, by connector.");
        _eventsTooLarge = meter.CreateCounter<long>("llm_events_too_large_total", description: "Streams ended because one event was larger than Llm:MaxEventBytes, by connector.");
        _errors = meter.CreateCounter<long>("llm_spend_errors_total", description: "Spend the database failed to reserve, record or release, by operation.");
        _estimated = meter.CreateCounter<long>("llm_estimated_calls_total", description: "Calls charged with estimated usage (no or invalid provider usage).");
    }

    public void Reservation(bool granted) => _reservations.Add(1, new KeyValuePair<string, object?>("result", granted ? "granted" : "refused"));

    public void Expired(long count) => _expired.Add(count);

    public void InvalidUsage(string connector) => _invalidUsage.Add(1, new KeyValuePair<string, object?>("connector", connector));

    public void EventTooLarge(string connector) => _eventsTooLarge.Add(1, new KeyValuePair<string, object?>("connector", connector));

    public void Error(string operation) => _errors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Estimated() => _estimated.Add(1);
}
