using System.Net;
using System.Text.Json;
using Agent33.Gateway.Boundary;
using Agent33.Testing;

namespace Agent33.Gateway.Tests;

/// <summary>Connectors whose target comes from the caller: allow-listed hosts only, no private networks unless configured.</summary>
public sealed class CallerTargetTests : IAsyncLifetime
{
    private Upstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await Upstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static async Task<(HttpStatusCode Status, string? Code)> FetchAsync(GatewayFactory gateway, string target)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/connectors/tool:web_fetch/");
        request.Headers.Add(CallerTargets.Header, target);
        var response = await gateway.CreateClient(TestKeys.Writer).SendAsync(request);
        var code = await response.ProblemCodeIfAnyAsync();
        return (response.StatusCode, code);
    }

    private static (string, string)[] WebFetch(bool allowPrivate) => GatewayFactory.Connector(0, "tool:web_fetch", "http://unused.invalid", more:
        [("AllowedHosts:0", "127.0.0.1"), ("AllowedHosts:1", "169.254.169.254"), ("AllowedHosts:2", "10.0.0.1"), ("AllowedHosts:3", "localhost"),
         ("AllowPrivateNetworks", allowPrivate ? "true" : "false")]);

    [Theory]
    [InlineData("http://127.0.0.1:{port}/ok")]
    [InlineData("http://localhost:{port}/ok")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.0.0.1/admin")]
    [InlineData("http://[::1]:{port}/ok")]
    [InlineData("http://evil.example.org/")]
    [InlineData("file:///etc/passwd")]
    [InlineData("http://user:pass@127.0.0.1/")]
    public async Task Private_addresses_and_hosts_outside_the_allow_list_are_refused(string target)
    {
        await using var gateway = new GatewayFactory(WebFetch(allowPrivate: false));
        var port = new Uri(_upstream.Address).Port;
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), await FetchAsync(gateway, target.Replace("{port}", port.ToString())));
        Assert.Equal(0, _upstream.Hits);
    }

    [Fact]
    public async Task Allowed_targets_are_fetched_and_redirects_are_returned_not_followed()
    {
        await using var gateway = new GatewayFactory(WebFetch(allowPrivate: true)); // the test upstream lives on loopback
        var port = new Uri(_upstream.Address).Port;
        Assert.Equal(HttpStatusCode.OK, (await FetchAsync(gateway, $"http://127.0.0.1:{port}/ok/page")).Status);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/connectors/tool:web_fetch/");
        request.Headers.Add(CallerTargets.Header, $"http://127.0.0.1:{port}/redirect");
        var client = gateway.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.DefaultRequestHeaders.Authorization = new("Bearer", TestKeys.Writer);
        var redirected = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Redirect, redirected.StatusCode);
        Assert.Equal(2, _upstream.Hits); // the gateway did not follow it
    }

    [Fact]
    public async Task A_missing_target_is_refused()
    {
        await using var gateway = new GatewayFactory(WebFetch(allowPrivate: false));
        var response = await gateway.CreateClient(TestKeys.Writer).GetAsync("/connectors/tool:web_fetch/");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.20.0.1", true)]
    [InlineData("192.168.1.1", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fd00::1", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("172.32.0.1", false)]
    [InlineData("2606:4700::1111", false)]
    public void Address_classification(string address, bool isPrivate) =>
        Assert.Equal(isPrivate, CallerTargets.IsPrivate(IPAddress.Parse(address)));
}
