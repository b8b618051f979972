namespace Agent33.Routing.Effort;

/// <summary>The heuristic's verdict on its own (<c>POST /v1/routing/classify</c>).</summary>
public sealed record HeuristicDecision(string Effort, double Confidence, int Score, int LowThreshold, int HighThreshold, IReadOnlyList<string> Reasons);
