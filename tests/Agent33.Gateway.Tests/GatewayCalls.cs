using System.Net;
using Agent33.Testing;

namespace Agent33.Gateway.Tests;

/// <summary>Calls through the gateway and its Prometheus text, shared by the gateway's tests (samples are read with <see cref="PrometheusText"/>).</summary>
internal static class GatewayCalls
{
    public static async Task<(HttpStatusCode Status, string? Code, HttpResponseMessage Response)> CallAsync(
        HttpClient client, string path, HttpMethod? method = null, HttpContent? content = null, params (string, string)[] headers)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        var response = await client.SendAsync(request);
        // Read as text (buffered), so a test can read the body again after its code.
        var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json";
        return (response.StatusCode, problem ? ProblemCodes.ProblemCode(await response.Content.ReadAsStringAsync()) : null, response);
    }

    public static Task<string> ScrapeAsync(GatewayFactory gateway) => gateway.CreateClient().GetStringAsync("/metrics");
}
