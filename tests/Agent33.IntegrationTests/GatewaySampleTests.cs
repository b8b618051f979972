using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Agent33.Demo;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agent33.IntegrationTests;

/// <summary>
/// services/Agent33.Gateway/Agent33.Gateway.http against the demo's upstreams (what <c>--demo</c> puts behind
/// llm:demo-stable and llm:demo-flaky): every sample call to them must reach a route the upstream serves, sent as
/// the gateway forwards it (path after the connector, no caller key).
/// </summary>
public sealed partial class GatewaySampleTests
{
    [Fact]
    public async Task Every_sample_call_to_a_demo_connector_is_answered_by_the_demo_upstream()
    {
        await using var demo = new WebApplicationFactory<DemoTools>().WithWebHostBuilder(b =>
        {
            b.UseSetting("Auth:ApiKeys:0:Key", "demo-test-key").UseSetting("Auth:ApiKeys:0:Tenant", "default").UseSetting("Auth:ApiKeys:0:Scopes:0", "write");
            b.ConfigureServices(services =>
            {
                services.RemoveAll<IHostedService>(d => d.ImplementationType == typeof(DemoTraffic)); // no traffic of its own
                services.AddSingleton<TimeProvider>(new UpAt(new DateTimeOffset(2026, 11, 27, 12, 0, 5, TimeSpan.Zero))); // the flaky one is up
            });
        });
        var client = demo.CreateClient();
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Agent33.sln")))
        {
            root = root.Parent!;
        }
        var sample = await File.ReadAllTextAsync(Path.Combine(root.FullName, "services", "Agent33.Gateway", "Agent33.Gateway.http"));

        var checkedCalls = new List<string>();
        foreach (var request in sample.Split("###").Skip(1))
        {
            var lines = request.Split('\n').Skip(1).ToList(); // the title, then the request line
            var call = RequestLine().Match(lines.FirstOrDefault() ?? "");
            if (!call.Success)
            {
                continue;
            }
            var headers = lines.Skip(1).TakeWhile(l => l.Trim().Length > 0).Select(l => l.Split(':', 2)).ToDictionary(h => h[0].Trim(), h => h[1].Trim());
            var body = string.Join('\n', lines.Skip(1).SkipWhile(l => l.Trim().Length > 0)).Trim();
            using var message = new HttpRequestMessage(new HttpMethod(call.Groups["method"].Value), $"/upstream/{call.Groups["upstream"].Value}/{call.Groups["path"].Value}");
            foreach (var (name, value) in headers.Where(h => h.Key is not ("Authorization" or "Content-Type") && !h.Key.StartsWith("X-Connector-", StringComparison.Ordinal)))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
            if (body.Length > 0)
            {
                message.Content = new StringContent(body, Encoding.UTF8);
                message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(headers.GetValueOrDefault("Content-Type", "application/json"));
            }
            using var response = await client.SendAsync(message);
            Assert.True(response.IsSuccessStatusCode,
                $"{request.Split('\n')[0].Trim()}: {message.Method} {message.RequestUri} answered {(int)response.StatusCode} by the demo upstream");
            checkedCalls.Add($"{message.Method} {message.RequestUri}");
        }
        Assert.Contains(checkedCalls, c => c.StartsWith("POST ", StringComparison.Ordinal));
        Assert.True(checkedCalls.Count >= 3, string.Join(", ", checkedCalls));
    }

    [GeneratedRegex(@"^(?<method>[A-Z]+) \{\{baseUrl\}\}/connectors/llm:demo-(?<upstream>stable|flaky)/(?<path>\S*)")]
    private static partial Regex RequestLine();

    private sealed class UpAt(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

internal static class ServiceCollectionTestExtensions
{
    public static void RemoveAll<T>(this IServiceCollection services, Func<ServiceDescriptor, bool> match)
    {
        foreach (var descriptor in services.Where(d => d.ServiceType == typeof(T) && match(d)).ToList())
        {
            services.Remove(descriptor);
        }
    }
}
