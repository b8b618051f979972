namespace Agent33.Gateway.Catalog;

public sealed class CircuitOptions
{
    public int FailureThreshold { get; set; } = 3;
    public double RecoveryTimeoutSeconds { get; set; } = 30;
    public int HalfOpenSuccessThreshold { get; set; } = 2;
    public double MaxRecoveryTimeoutSeconds { get; set; } = 300;
}
