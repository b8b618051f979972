using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Agent33.Testing;

namespace Agent33.ServiceDefaults.Tests;

/// <summary>
/// What every service inherits from the defaults, on a real Kestrel server: keys, scopes and tenants,
/// problem+json codes for bad input, the body limit, and per-key write rate limiting.
/// </summary>
public sealed class SharedBehaviourTests : IAsyncLifetime
{
    private const string Admin = "admin-key";
    private const string Writer = "writer-key";
    private const string Reader = "reader-key";
    private const string OtherWriter = "other-writer-key";
    private const string Service = "service-key";
    private const string ServiceOnly = "service-only-key";

    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Auth:ApiKeys:0:Key"] = Admin, ["Auth:ApiKeys:0:Tenant"] = "default", ["Auth:ApiKeys:0:Scopes:0"] = "admin",
            ["Auth:ApiKeys:1:Key"] = Writer, ["Auth:ApiKeys:1:Tenant"] = "tenant-a", ["Auth:ApiKeys:1:Scopes:0"] = "write",
            ["Auth:ApiKeys:2:Key"] = Reader, ["Auth:ApiKeys:2:Tenant"] = "tenant-a", ["Auth:ApiKeys:2:Scopes:0"] = "read",
            ["Auth:ApiKeys:3:Key"] = OtherWriter, ["Auth:ApiKeys:3:Tenant"] = "tenant-b", ["Auth:ApiKeys:3:Scopes:0"] = "write",
            // As the AppHost generates it: write + service, for the services' own tenant.
            ["Auth:ApiKeys:4:Key"] = Service, ["Auth:ApiKeys:4:Tenant"] = "default", ["Auth:ApiKeys:4:Scopes:0"] = "write", ["Auth:ApiKeys:4:Scopes:1"] = "service",
            ["Auth:ApiKeys:5:Key"] = ServiceOnly, ["Auth:ApiKeys:5:Tenant"] = "default", ["Auth:ApiKeys:5:Scopes:0"] = "service",
            ["RateLimiting:WritesPerSecond"] = "1",
            ["RateLimiting:Burst"] = "3",
            ["Limits:MaxRequestBodyBytes"] = "1000",
        });
        builder.AddServiceDefaults();
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapGet("/items", (HttpContext context, string? tenant_id) =>
        {
            var resolution = ApiCaller.From(context).ResolveTenant(tenant_id);
            return resolution.Problem is { } problem ? (IResult)problem : TypedResults.Ok(new { tenant_id = resolution.Tenant });
        }).RequireAuthorization(Scopes.Read);
        _app.MapPost("/items", (Item item) => TypedResults.Created("/items/1", item)).RequireAuthorization(Scopes.Write);
        _app.MapPost("/tenant-items", (HttpContext context, TenantItem item) =>
        {
            var resolution = ApiCaller.From(context).ResolveTenant(item.TenantId);
            return resolution.Problem is { } problem ? (IResult)problem : TypedResults.Created("/tenant-items/1", new { tenant_id = resolution.Tenant });
        }).RequireAuthorization(Scopes.Write);
        _app.MapPost("/admin-only", () => TypedResults.Ok()).RequireAuthorization(Scopes.Admin);
        _app.MapPost("/documents", (System.Text.Json.JsonElement document) => TypedResults.Ok(document.ToString())).RequireAuthorization(Scopes.Write);
        _app.MapGet("/database-down", IResult () => throw new InvalidOperationException("query failed", new UnreachableDatabase())).RequireAuthorization(Scopes.Read);
        _app.MapGet("/bug", IResult () => throw new InvalidOperationException("secret detail: Password=hunter2")).RequireAuthorization(Scopes.Read);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    private sealed record Item(string Name, int Count);

    private sealed record TenantItem(string? TenantId);

    private sealed class UnreachableDatabase() : System.Data.Common.DbException("connection refused")
    {
        public override bool IsTransient => true;
    }

    [Fact]
    public async Task An_unreachable_database_is_503_and_a_bug_is_500_without_its_message()
    {
        var (status, code, _) = await SendAsync(HttpMethod.Get, "/database-down", Reader);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "database_unavailable"), (status, code));

        var (bugStatus, bugCode, response) = await SendAsync(HttpMethod.Get, "/bug", Reader);
        Assert.Equal((HttpStatusCode.InternalServerError, "internal_error"), (bugStatus, bugCode));
        Assert.DoesNotContain("hunter2", await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string? Code, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? key, HttpContent? content = null, bool useHeader = false)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null)
        {
            if (useHeader)
            {
                request.Headers.Add(ApiKeyAuthentication.HeaderName, key);
            }
            else
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }
        }
        var response = await _client.SendAsync(request);
        string? code = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            code = problem.RootElement.ProblemCode();
        }
        return (response.StatusCode, code, response);
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized, "unauthenticated")]
    [InlineData("no-such-key", HttpStatusCode.Unauthorized, "unauthenticated")]
    [InlineData(Reader, HttpStatusCode.OK, null)]
    public async Task Reads_need_a_known_key(string? key, HttpStatusCode status, string? code)
    {
        var (actual, actualCode, _) = await SendAsync(HttpMethod.Get, "/items", key);
        Assert.Equal((status, code), (actual, actualCode));
    }

    /// <summary>
    /// A keep-alive connection reuses a header's string while its value does not change, and the handler knows an
    /// accepted header by that string: whatever the same connection sends next is still judged by its own key.
    /// </summary>
    [Fact]
    public async Task Each_request_on_one_connection_is_judged_by_its_own_key()
    {
        var sequence = new (string? Key, bool UseHeader, HttpStatusCode Status)[]
        {
            (Reader, false, HttpStatusCode.OK), (Reader, false, HttpStatusCode.OK), ("no-such-key", false, HttpStatusCode.Unauthorized),
            (Reader, false, HttpStatusCode.OK), (null, false, HttpStatusCode.Unauthorized), (Reader, true, HttpStatusCode.OK),
            (Reader + "x", false, HttpStatusCode.Unauthorized), (Reader, false, HttpStatusCode.OK), (Writer, false, HttpStatusCode.OK),
        };
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = _client.BaseAddress };
        var connections = 0;
        handler.ConnectCallback = async (context, ct) =>
        {
            Interlocked.Increment(ref connections);
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        };
        var statuses = new List<HttpStatusCode>();
        foreach (var (key, useHeader, _) in sequence)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/items");
            if (key is not null)
            {
                request.Headers.TryAddWithoutValidation(useHeader ? "X-Api-Key" : "Authorization", useHeader ? key : $"Bearer {key}");
            }
            using var response = await client.SendAsync(request);
            statuses.Add(response.StatusCode);
        }
        Assert.Equal(sequence.Select(s => s.Status), statuses);
        Assert.Equal(1, connections); // one connection throughout, so the header strings were reused where they could be
    }

    [Fact]
    public async Task The_key_may_come_in_the_X_Api_Key_header()
    {
        var (status, _, _) = await SendAsync(HttpMethod.Get, "/items", Reader, useHeader: true);
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task A_read_key_cannot_write()
    {
        var (status, code, _) = await SendAsync(HttpMethod.Post, "/items", Reader, JsonContent.Create(new { name = "a", count = 1 }));
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), (status, code));
    }

    [Theory]
    [InlineData(Writer, "tenant-b", HttpStatusCode.Forbidden, "cross_tenant_denied")]
    [InlineData(Writer, "tenant-a", HttpStatusCode.OK, null)]
    [InlineData(Admin, "tenant-b", HttpStatusCode.OK, null)]
    [InlineData(Admin, "bad tenant!", HttpStatusCode.BadRequest, "invalid_tenant")]
    public async Task Only_admins_name_another_tenant(string key, string tenant, HttpStatusCode status, string? code)
    {
        var (actual, actualCode, _) = await SendAsync(HttpMethod.Get, $"/items?tenant_id={Uri.EscapeDataString(tenant)}", key);
        Assert.Equal((status, code), (actual, actualCode));
    }

    [Theory]
    [InlineData(Service, "tenant-b", HttpStatusCode.OK, null)]
    [InlineData(Service, "default", HttpStatusCode.OK, null)]
    [InlineData(Service, "bad tenant!", HttpStatusCode.BadRequest, "invalid_tenant")]
    [InlineData(ServiceOnly, "tenant-a", HttpStatusCode.OK, null)]
    public async Task A_service_key_names_its_callers_tenant(string key, string tenant, HttpStatusCode status, string? code)
    {
        var (actual, actualCode, response) = await SendAsync(HttpMethod.Get, $"/items?tenant_id={Uri.EscapeDataString(tenant)}", key);
        Assert.Equal((status, code), (actual, actualCode));
        if (status == HttpStatusCode.OK)
        {
            Assert.Equal(tenant, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());
        }
    }

    [Theory]
    [InlineData(Service)]
    [InlineData(ServiceOnly)] // service includes write: posting a signal or asking for a routing decision needs no second scope
    public async Task A_service_key_writes_for_another_tenant_but_is_no_admin(string key)
    {
        var (status, _, response) = await SendAsync(HttpMethod.Post, "/tenant-items", key, JsonContent.Create(new { tenant_id = "tenant-b" }));
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal("tenant-b", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("tenant_id").GetString());

        var (adminStatus, adminCode, _) = await SendAsync(HttpMethod.Post, "/admin-only", key);
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), (adminStatus, adminCode));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/admin-only", Admin)).Status);
    }

    [Fact]
    public async Task A_write_key_may_not_write_for_another_tenant()
    {
        var (status, code, _) = await SendAsync(HttpMethod.Post, "/tenant-items", OtherWriter, JsonContent.Create(new { tenant_id = "tenant-a" }));
        Assert.Equal((HttpStatusCode.Forbidden, "cross_tenant_denied"), (status, code));
    }

    [Fact]
    public void The_service_scope_includes_read_and_write_but_not_admin()
    {
        var caller = new ApiCaller("default", new HashSet<string> { Scopes.Service });
        Assert.True(caller.Has(Scopes.Read) && caller.Has(Scopes.Write) && caller.IsService && caller.MayActForAnyTenant);
        Assert.False(caller.IsAdmin);
        var admin = new ApiCaller("default", new HashSet<string> { Scopes.Admin });
        Assert.False(admin.IsService); // an admin crosses tenants as an admin, not as a service
        Assert.True(admin.MayActForAnyTenant);
        Assert.False(new ApiCaller("default", new HashSet<string> { Scopes.Write }).MayActForAnyTenant);
    }

    [Theory]
    [InlineData("{\"name\": \"a\", \"count\": ", "invalid_json")]
    [InlineData("{\"name\": \"a\", \"count\": \"many\"}", "invalid_json")]
    [InlineData("not json at all", "invalid_json")]
    public async Task Malformed_bodies_get_400_with_a_code(string body, string code)
    {
        var (status, actualCode, _) = await SendAsync(HttpMethod.Post, "/items", OtherWriter, new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal((HttpStatusCode.BadRequest, code), (status, actualCode));
    }

    [Fact]
    public async Task Non_utf8_bodies_get_400()
    {
        var (status, code, _) = await SendAsync(HttpMethod.Post, "/items", OtherWriter,
            new ByteArrayContent([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } });
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_json"), (status, code));

        // Bound as a JsonElement, the broken string is decoded only when the handler reads it: still the caller's fault.
        (status, code, _) = await SendAsync(HttpMethod.Post, "/documents", OtherWriter,
            new ByteArrayContent([.. "{\"a\":\""u8, 0xC3, 0x28, .. "\"}"u8]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } });
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_json"), (status, code));
    }

    [Fact]
    public async Task Oversized_bodies_get_413()
    {
        var (status, code, _) = await SendAsync(HttpMethod.Post, "/items", OtherWriter,
            new StringContent($"{{\"name\": \"{new string('x', 5000)}\", \"count\": 1}}", Encoding.UTF8, "application/json"));
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "payload_too_large"), (status, code));
    }

    [Fact]
    public async Task Writes_are_rate_limited_per_key_with_retry_after()
    {
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 6; i++)
        {
            var (status, code, response) = await SendAsync(HttpMethod.Post, "/items", Writer, JsonContent.Create(new { name = "a", count = i }));
            statuses.Add(status);
            if (status == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal("rate_limited", code);
                limited = response;
            }
        }
        Assert.Equal(HttpStatusCode.Created, statuses[0]);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.True(limited!.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));

        // Another key has its own bucket, and reads are never limited.
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/items", Admin, JsonContent.Create(new { name = "b", count = 1 }))).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/items", Writer)).Status);
    }

    [Fact]
    public async Task The_frameworks_per_request_detail_is_not_exported_and_request_durations_are()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/items", Reader)).Status);
        }
        var metrics = "";
        for (var attempt = 0; attempt < 20 && !metrics.Contains("http_server_request_duration_seconds_count", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(100); // a request's duration is recorded as its answer ends
            metrics = await _client.GetStringAsync("/metrics");
        }
        Assert.Contains("http_server_request_duration_seconds_count", metrics);
        Assert.Contains("kestrel_active_connections", metrics);
        foreach (var name in Microsoft.Extensions.Hosting.ServiceDefaultsExtensions.PerRequestDetail)
        {
            Assert.DoesNotContain(name.Replace('.', '_'), metrics);
        }
    }

    [Fact]
    public async Task Operational_endpoints_and_the_openapi_document_need_no_key()
    {
        foreach (var path in new[] { "/health", "/alive", "/metrics", "/openapi/v1.json" })
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, path, key: null)).Status);
        }
    }
}
