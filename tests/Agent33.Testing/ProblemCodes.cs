using System.Net.Http.Json;
using System.Text.Json;

namespace Agent33.Testing;

/// <summary>Reads the stable machine <c>code</c> of a problem+json answer (the contract's error shape).</summary>
public static class ProblemCodes
{
    /// <summary>The code of the answer's problem body; throws when the body has none.</summary>
    public static async Task<string?> ProblemCodeAsync(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).ProblemCode();

    /// <summary>The code when the answer is a problem (<c>application/problem+json</c>); null for any other answer.</summary>
    public static async Task<string?> ProblemCodeIfAnyAsync(this HttpResponseMessage response) =>
        response.Content.Headers.ContentType?.MediaType == "application/problem+json" ? await response.ProblemCodeAsync() : null;

    /// <summary>The code of a parsed problem body.</summary>
    public static string? ProblemCode(this JsonElement problem) => problem.GetProperty("code").GetString();

    /// <summary>The code of a problem body as text.</summary>
    public static string? ProblemCode(string problem)
    {
        using var document = JsonDocument.Parse(problem);
        return document.RootElement.ProblemCode();
    }
}
