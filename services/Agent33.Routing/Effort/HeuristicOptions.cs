namespace Agent33.Routing.Effort;

public sealed class HeuristicOptions
{
    public int LowScoreThreshold { get; set; } = 1;
    public int HighScoreThreshold { get; set; } = 4;
    public int MediumPayloadChars { get; set; } = 800;
    public int LargePayloadChars { get; set; } = 2000;
    public int ManyInputFieldsThreshold { get; set; } = 10;
    public int HighIterationThreshold { get; set; } = 15;
    public int SimpleMaxChars { get; set; } = 160;
    public int SimpleMaxWords { get; set; } = 28;
}
