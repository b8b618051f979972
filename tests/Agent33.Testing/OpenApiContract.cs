using System.Text.Json;
using Xunit;

namespace Agent33.Testing;

/// <summary>Checks that a service's OpenAPI document lists every route the contract names for it.</summary>
public static class OpenApiContract
{
    public static async Task AssertRoutesAsync(HttpClient anonymous, params (string Method, string Path)[] routes)
    {
        using var document = JsonDocument.Parse(await anonymous.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths");
        var missing = routes.Where(r => !paths.TryGetProperty(r.Path, out var item) || !item.TryGetProperty(r.Method.ToLowerInvariant(), out _))
            .Select(r => $"{r.Method} {r.Path}").ToList();
        Assert.True(missing.Count == 0, $"missing from the OpenAPI document: {string.Join(", ", missing)}");
    }
}
