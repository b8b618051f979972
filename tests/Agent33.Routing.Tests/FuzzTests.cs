using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Testing;
using CsCheck;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit.Abstractions;

namespace Agent33.Routing.Tests;

/// <summary>Property-based fuzzing (CsCheck) of the routing request parser: a decision or a 4xx problem with a code, never a 5xx.</summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, JsonNode?[]> DecisionFields = new()
    {
        // Mostly valid values, so that bodies reach the router as well as its validation.
        ["requested_model"] = ["gpt-4o", "claude-sonnet", ""],
        ["default_model"] = ["m", "claude-sonnet", "m"],
        ["max_tokens"] = [1000, 4096, 64, 0, -1, 2_000_000_000],
        ["effort"] = ["low", "medium", "high", "low", "medium", "high", "xhigh", "HIGH"],
        ["tenant_id"] = ["tenant-a", "tenant-a", "tenant-b"],
        ["domain"] = ["code", "research", ""],
        ["inputs"] = [new JsonObject { ["prompt"] = "debug this failing deploy" }, new JsonObject(), new JsonArray(1, "two"), "plain text"],
        ["iterative"] = [true, false],
        ["max_iterations"] = [1, 5, 3, 0, 1000],
        ["provider"] = ["openai", "anthropic", "nobody"],
    };

    [Theory]
    [InlineData("/v1/routing/decisions")]
    [InlineData("/v1/routing/classify")]
    public async Task Any_body_is_decided_or_refused_with_a_code(string route)
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseTestKeys();
            b.UseSetting("services:learning-service:http:0", "http://127.0.0.1:9");
        });
        var client = factory.CreateClient(TestKeys.Writer);
        int decided = 0, refused = 0;

        await FuzzInputs.Body(FuzzInputs.ObjectWith(DecisionFields)).SampleAsync(async body =>
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await client.PostAsync(route, content);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref decided);
                Assert.True(JsonDocument.Parse(text).RootElement.TryGetProperty("effort", out _), text);
                return;
            }
            Interlocked.Increment(ref refused);
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode}: {text}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.False(string.IsNullOrEmpty(ProblemCodes.ProblemCode(text)));
        }, iter: 1000, print: b => System.Text.Encoding.UTF8.GetString(b.Length > 300 ? b[..300] : b));

        output.WriteLine($"1000 bodies: {decided} decided, {refused} refused with a code");
        Assert.True(decided > 20 && refused > 100, $"the generator reached too little of either side ({decided} decided, {refused} refused)");
    }
}
