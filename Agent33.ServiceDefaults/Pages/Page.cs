namespace Agent33.ServiceDefaults.Pages;

/// <summary>A page and, when more remain, the position the next one starts after.</summary>
public sealed record Page<T>(List<T> Items, PageCursor? Next);
