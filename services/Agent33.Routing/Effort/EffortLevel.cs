namespace Agent33.Routing.Effort;

/// <summary>The effort level of an agent call; it selects the model and scales the token budget.</summary>
public enum EffortLevel
{
    Low,
    Medium,
    High,
}
