using Agent33.Learning.Domain;
using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Agent33.Learning.Tests;

/// <summary>The learning service on a real Postgres database, with a clock the test moves.</summary>
internal sealed class LearningServiceFactory(PostgresFixture postgres, params (string Key, string Value)[] settings)
    : WebApplicationFactory<Program>
{
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero));

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        builder.UseTestKeys();
        builder.UseSetting("ConnectionStrings:learning", postgres.ConnectionString);
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureServices(services => services.AddSingleton<TimeProvider>(Clock));
    }

    /// <summary>Runs <paramref name="action"/> with one of the service's scoped parts (its reports, its intakes …).</summary>
    public async Task<T> WithAsync<TService, T>(Func<TService, Task<T>> action) where TService : notnull
    {
        await using var scope = Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<TService>());
    }
}
