namespace Agent33.Routing.Effort;

/// <summary>What chose the effort: the request, a tenant/domain policy, the heuristic, or the default.</summary>
public enum EffortSource
{
    Request,
    Policy,
    Heuristic,
    Default,
}
