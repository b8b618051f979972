using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Agent33.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agent33.ServiceDefaults.Tests;

/// <summary>
/// Browser preflights on every service, as the reference's wiring test expects them: answered without a key,
/// allowed origins from <c>Cors:AllowedOrigins</c> (none by default), and every other request still needs a key.
/// </summary>
public sealed class CorsTests
{
    private const string Allowed = "http://localhost:3000";
    private const string Key = "writer-key";

    private static async Task<(WebApplication App, HttpClient Client)> StartAsync(params string[] origins)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var settings = new Dictionary<string, string?>
        {
            ["Auth:ApiKeys:0:Key"] = Key, ["Auth:ApiKeys:0:Tenant"] = "tenant-a", ["Auth:ApiKeys:0:Scopes:0"] = "write",
        };
        for (var i = 0; i < origins.Length; i++)
        {
            settings[$"Cors:AllowedOrigins:{i}"] = origins[i];
        }
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapPost("/v1/chat/completions", () => TypedResults.Ok(new { ok = true })).RequireAuthorization(Scopes.Write);
        app.MapGet("/v1/items", () => TypedResults.Ok(new { ok = true })).RequireAuthorization(Scopes.Read);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private static HttpRequestMessage Preflight(string path, string origin) => new(HttpMethod.Options, path)
    {
        Headers =
        {
            { "Origin", origin },
            { "Access-Control-Request-Method", "POST" },
            { "Access-Control-Request-Headers", "authorization,content-type" },
        },
    };

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    [Theory]
    [InlineData("/v1/chat/completions")] // a POST route: the reference's wiring test
    [InlineData("/v1/items")]            // a GET-only route
    [InlineData("/v1/no-such-route")]
    public async Task A_preflight_from_an_allowed_origin_is_answered_without_a_key(string path)
    {
        var (app, client) = await StartAsync(Allowed, "https://console.example.com/");
        await using var _ = app;

        using var response = await client.SendAsync(Preflight(path, Allowed));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(Allowed, Header(response, "Access-Control-Allow-Origin"));
        Assert.Contains("POST", Header(response, "Access-Control-Allow-Methods")!.Split(','));
        var allowedHeaders = Header(response, "Access-Control-Allow-Headers")!.ToLowerInvariant().Split(',');
        Assert.Contains("authorization", allowedHeaders);
        Assert.Contains("content-type", allowedHeaders);
        Assert.Null(Header(response, "Access-Control-Allow-Credentials"));

        // The second origin was configured with a trailing slash; a browser's Origin never has one.
        using var second = await client.SendAsync(Preflight(path, "https://console.example.com"));
        Assert.Equal("https://console.example.com", Header(second, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task A_preflight_from_an_unknown_origin_gets_no_allow_header()
    {
        var (app, client) = await StartAsync(Allowed);
        await using var _ = app;

        using var response = await client.SendAsync(Preflight("/v1/chat/completions", "http://evil.example"));

        Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Null(Header(response, "Access-Control-Allow-Methods"));
    }

    [Fact]
    public async Task With_no_origins_configured_no_browser_origin_is_allowed_and_preflights_are_still_not_401()
    {
        var (app, client) = await StartAsync();
        await using var _ = app;

        using var response = await client.SendAsync(Preflight("/v1/chat/completions", Allowed));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.DoesNotContain("unauthenticated", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Requests_that_are_not_preflights_still_need_a_key()
    {
        var (app, client) = await StartAsync(Allowed);
        await using var _ = app;

        using var anonymous = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(new { }), Headers = { { "Origin", Allowed } } };
        using var denied = await client.SendAsync(anonymous);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal(Allowed, Header(denied, "Access-Control-Allow-Origin")); // the browser may read the problem

        // An OPTIONS without Access-Control-Request-Method is no preflight: it needs a key like any request.
        using var plainOptions = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions") { Headers = { { "Origin", Allowed } } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(plainOptions)).StatusCode);

        using var keyed = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(new { }), Headers = { { "Origin", Allowed } } };
        keyed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var allowed = await client.SendAsync(keyed);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(Allowed, Header(allowed, "Access-Control-Allow-Origin"));
    }
}
