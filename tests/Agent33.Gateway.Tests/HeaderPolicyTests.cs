using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Testing;
using Microsoft.AspNetCore.Http;
using static Agent33.Gateway.Tests.GatewayCalls;

namespace Agent33.Gateway.Tests;

/// <summary>
/// One header policy for every door: the fast and routed connector paths and the LLM endpoint drop hop-by-hop headers
/// and every header named in <c>Connection</c>, send the destination's <c>Host</c>, never forward the caller's
/// credentials, and let governance judge the method an override header names.
/// </summary>
public sealed class HeaderPolicyTests : IAsyncLifetime
{
    private readonly string _id = $"tool:{Guid.NewGuid():N}";
    private Upstream _upstream = null!;
    private LlmProvider _provider = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Upstream.StartAsync();
        _provider = await LlmProvider.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _upstream.DisposeAsync();
        await _provider.DisposeAsync();
    }

    private GatewayFactory Gateway(params (string Key, string Value)[] more) => new([
        .. GatewayFactory.Connector(0, _id, _upstream.Address, more: [("ApiKey", "connector-key")]),
        .. GatewayFactory.Connector(1, "llm:main", $"{_provider.Address}/ok/v1", kind: "llm", more: [("Models:0", "gpt-*"), ("ApiKey", "provider-key")]),
        ("Cors:AllowedOrigins:0", "https://app.example"),
        .. more,
    ]);

    private static readonly (string, string)[] Hostile =
    [
        ("Connection", "keep-alive, X-Secret, X-Other"), ("X-Secret", "s3cret"), ("X-Other", "o"), ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("Cookie", "session=abc"), ("X-Api-Key", TestKeys.Writer),
        ("X-Agent33-Domain", "finance"), ("X-Connector-Operation", "GET"), ("X-Kept", "kept"),
    ];

    private void AssertPolicyHeld(IHeaderDictionary upstream, string authority, string key)
    {
        foreach (var name in new[] { "X-Secret", "X-Other", "Keep-Alive", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Agent33-Domain", "X-Connector-Operation" })
        {
            Assert.False(upstream.ContainsKey(name), $"{name} reached the upstream");
        }
        Assert.Equal("kept", upstream["X-Kept"].ToString()); // an ordinary header still goes
        Assert.Equal($"Bearer {key}", upstream.Authorization.ToString());
        Assert.Equal(authority, upstream.Host.ToString());
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("routed")]
    [InlineData("browser")]
    public async Task Both_connector_paths_apply_the_one_header_policy(string path)
    {
        await using var gateway = Gateway(("Gateway:FastPath", path == "routed" ? "false" : "true"));
        var headers = path == "browser" ? [.. Hostile, ("Origin", "https://app.example")] : Hostile;
        var answer = await CallAsync(gateway.CreateClient(TestKeys.Writer), $"/connectors/{_id}/headers", headers: headers);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        AssertPolicyHeld(_upstream.LastHeaders!, new Uri(_upstream.Address).Authority, "connector-key");
    }

    [Fact]
    public async Task The_llm_endpoint_applies_the_one_header_policy_and_sends_the_providers_host()
    {
        await using var gateway = Gateway();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } }),
        };
        foreach (var (name, value) in Hostile)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        var response = await gateway.CreateClient(TestKeys.Writer).SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        AssertPolicyHeld(_provider.LastHeaders!, new Uri(_provider.Address).Authority, "provider-key");
    }

    [Theory]
    [InlineData("X-HTTP-Method-Override")]
    [InlineData("X-Method-Override")]
    [InlineData("X-HTTP-Method")]
    public async Task A_method_override_is_judged_as_the_method_it_names(string header)
    {
        await using var gateway = Gateway(("Governance:BlockedOperations:0", "DELETE"));
        var writer = gateway.CreateClient(TestKeys.Writer);
        var overridden = await CallAsync(writer, $"/connectors/{_id}/status/204", HttpMethod.Post, headers: (header, "delete"));
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), (overridden.Status, overridden.Code));
        Assert.Equal(0, _upstream.Hits);
        Assert.Equal(HttpStatusCode.NoContent, (await CallAsync(writer, $"/connectors/{_id}/status/204", HttpMethod.Post)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await CallAsync(writer, $"/connectors/{_id}/status/204", HttpMethod.Post, headers: (header, "PATCH"))).Status);
    }

    [Theory]
    [InlineData("/connectors/llm:main/chat/completions")]
    [InlineData("/connectors/LLM:MAIN/chat/completions")]
    public async Task An_llm_connector_is_reached_only_through_v1(string path)
    {
        await using var gateway = Gateway();
        var answer = await CallAsync(gateway.CreateClient(TestKeys.Writer), path, HttpMethod.Post,
            JsonContent.Create(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } }));
        Assert.Equal((HttpStatusCode.Forbidden, "governance_blocked"), (answer.Status, answer.Code));
        Assert.Contains("/v1/chat/completions", (await answer.Response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        Assert.Empty(_provider.Requests);
    }

    [Theory]
    [InlineData("gpt-4o\n")]
    [InlineData("gpt-4o\u2028")]
    [InlineData("gpt 4o")]
    [InlineData("gpt-\u00004o")]
    [InlineData("")]
    public async Task A_malformed_model_name_is_refused_before_anything_and_opens_no_circuit(string model)
    {
        await using var gateway = Gateway();
        var writer = gateway.CreateClient(TestKeys.Writer);
        for (var i = 0; i < 4; i++)
        {
            var response = await writer.PostAsJsonAsync("/v1/chat/completions", new { model, messages = new[] { new { role = "user", content = "hi" } } });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_request", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        }
        var tooLong = await writer.PostAsJsonAsync("/v1/chat/completions", new { model = "gpt-" + new string('x', 200), messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Empty(_provider.Requests);
        var llm = await gateway.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/connectors/llm:main");
        Assert.Equal("closed", llm.GetProperty("circuit").GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await gateway.CreateClient(TestKeys.OtherWriter).PostAsJsonAsync("/v1/chat/completions",
            new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } })).StatusCode);
    }

    [Fact]
    public async Task A_header_no_provider_request_can_carry_is_refused_in_openais_shape()
    {
        await using var gateway = Gateway();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } }),
        };
        request.Headers.TryAddWithoutValidation("X-Foo", "\u00c3\u00a9");
        var response = await gateway.CreateClient(TestKeys.Writer).SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.Empty(_provider.Requests);
    }
}
