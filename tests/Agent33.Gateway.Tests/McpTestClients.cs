using System.Net.Http.Headers;
using System.Text;
using Agent33.Testing;
using ModelContextProtocol.Client;

namespace Agent33.Gateway.Tests;

/// <summary>MCP callers of a gateway: the official SDK client, and a raw request for tests that watch session ids.</summary>
internal static class McpTestClients
{
    /// <summary>The official SDK client over <paramref name="http"/> (Streamable HTTP) at <paramref name="path"/>, calling with <paramref name="key"/>.</summary>
    public static Task<McpClient> ConnectMcpAsync(this HttpClient http, string path, string key = TestKeys.Writer)
    {
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(http.BaseAddress!, path),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, http, ownsHttpClient: true));
    }

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
