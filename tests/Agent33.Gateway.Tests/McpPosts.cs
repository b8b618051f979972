using System.Text;

namespace Agent33.Gateway.Tests;

/// <summary>A raw MCP Streamable HTTP request, for tests that watch what the gateway does with session ids.</summary>
internal static class McpPosts
{
    /// <summary>POSTs one JSON-RPC message to <paramref name="path"/>, in <paramref name="session"/> when one is given; the answer is read whole.</summary>
    public static async Task<HttpResponseMessage> PostMcpAsync(this HttpClient caller, string path, string json, string? session)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (session is not null)
        {
            request.Headers.TryAddWithoutValidation("Mcp-Session-Id", session);
        }
        var answer = await caller.SendAsync(request);
        await answer.Content.LoadIntoBufferAsync();
        return answer;
    }
}
