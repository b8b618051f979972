using System.Collections.Concurrent;
using Agent33.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;

namespace Agent33.Learning.Tests;

/// <summary>The learning service's first start on a new, empty database, as the AppHost's first run gives it one.</summary>
public sealed class FirstStartTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Theory]
    [InlineData(true)]  // the AppHost creates the database before the service starts
    [InlineData(false)] // a server without it (a new Kubernetes deployment): the service creates it
    public async Task A_first_start_applies_the_migrations_logs_no_error_and_no_sql(bool databaseExists)
    {
        var connectionString = databaseExists
            ? postgres.ConnectionString
            : new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Database = $"{postgres.DatabaseName}_new" }.ConnectionString;
        var logged = new ConcurrentQueue<(LogLevel Level, string Category, string Message)>();
        await using var factory = new LearningServiceFactory(postgres, ("ConnectionStrings:learning", connectionString));
        await using var service = factory.WithWebHostBuilder(b => b.ConfigureLogging(logging => logging.AddProvider(new Capture(logged))));
        var anonymous = service.CreateClient();
        (await anonymous.GetAsync("/health")).EnsureSuccessStatusCode(); // a health check queries the database

        Assert.Contains(logged, l => l.Message.StartsWith("Learning database is up to date; applied 3", StringComparison.Ordinal));
        Assert.Empty(logged.Where(l => l.Level >= LogLevel.Error).Select(l => $"{l.Category}: {l.Message}"));
        Assert.Empty(logged.Where(l => l.Category == "Microsoft.EntityFrameworkCore.Database.Command").Select(l => l.Message)); // appsettings: Warning

        if (!databaseExists)
        {
            await service.DisposeAsync();
            Npgsql.NpgsqlConnection.ClearAllPools();
            await using var admin = new Npgsql.NpgsqlConnection(postgres.ConnectionString);
            await admin.OpenAsync();
            await new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS \"{postgres.DatabaseName}_new\" WITH (FORCE)", admin).ExecuteNonQueryAsync();
        }
    }

    private sealed class Capture(ConcurrentQueue<(LogLevel, string, string)> logged) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, logged);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<(LogLevel, string, string)> logged) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                logged.Enqueue((logLevel, category, formatter(state, exception)));
        }
    }
}
