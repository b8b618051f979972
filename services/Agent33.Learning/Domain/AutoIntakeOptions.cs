namespace Agent33.Learning.Domain;

public sealed class AutoIntakeOptions
{
    public bool Enabled { get; set; }
    public double MinQuality { get; set; } = 0.45;
    public string MinSeverity { get; set; } = "high";
    public int MaxItems { get; set; } = 3;
}
