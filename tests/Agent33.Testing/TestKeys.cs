using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Agent33.Testing;

/// <summary>API keys every in-process service test configures, one per role the contract knows.</summary>
public static class TestKeys
{
    public const string Admin = "test-admin-key";          // tenant "default", admin
    public const string Writer = "test-writer-key";        // tenant "tenant-a", write
    public const string Reader = "test-reader-key";        // tenant "tenant-a", read
    public const string OtherWriter = "test-other-key";    // tenant "tenant-b", write
    public const string Service = "test-service-key";      // tenant "default", write + service (as the AppHost's service key)

    private static readonly (string Key, string Tenant, string[] Scopes)[] All =
    [
        (Admin, "default", ["admin"]),
        (Writer, "tenant-a", ["write"]),
        (Reader, "tenant-a", ["read"]),
        (OtherWriter, "tenant-b", ["write"]),
        (Service, "default", ["write", "service"]),
    ];

    /// <summary>The keys as configuration settings.</summary>
    public static IEnumerable<KeyValuePair<string, string>> Settings() => All.SelectMany((k, i) =>
        new KeyValuePair<string, string>[] { new($"Auth:ApiKeys:{i}:Key", k.Key), new($"Auth:ApiKeys:{i}:Tenant", k.Tenant) }
            .Concat(k.Scopes.Select((scope, j) => new KeyValuePair<string, string>($"Auth:ApiKeys:{i}:Scopes:{j}", scope))));

    /// <summary>Configures the keys on a service under test.</summary>
    public static IWebHostBuilder UseTestKeys(this IWebHostBuilder builder)
    {
        foreach (var (key, value) in Settings())
        {
            builder.UseSetting(key, value);
        }
        return builder;
    }

    /// <summary>A client of the service under test that sends <paramref name="key"/> as a bearer token.</summary>
    public static HttpClient CreateClient<TEntryPoint>(this WebApplicationFactory<TEntryPoint> factory, string? key)
        where TEntryPoint : class
    {
        var client = factory.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }
}
