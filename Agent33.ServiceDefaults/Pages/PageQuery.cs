namespace Agent33.ServiceDefaults.Pages;

/// <summary>One page of a list: how many, after which position, and the time range (since inclusive, until exclusive).</summary>
public sealed record PageQuery(int Limit, PageCursor? After = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null);
