using System.Diagnostics.Metrics;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http;

namespace Agent33.Learning.Persistence;

/// <summary>
/// <c>learning_database_unavailable_total</c>: requests the service answered <c>503 database_unavailable</c>
/// (the shared problem handling picks that code when Postgres cannot be reached). The series exists from
/// start-up at zero, so Prometheus sees the first answer of an outage too (the <c>learning_database_unavailable</c> alert).
/// </summary>
public sealed class DatabaseUnavailableCounter : IHostedService
{
    public const string Name = "learning_database_unavailable_total";
    public const string Code = "database_unavailable";

    private readonly Counter<long> _answers;

    public DatabaseUnavailableCounter(IMeterFactory meters)
    {
        _answers = meters.Create("Agent33.Learning").CreateCounter<long>(Name, description: "Requests answered 503 database_unavailable (Postgres unreachable).");
    }

    /// <summary>Counts every problem answer whose code is database_unavailable, after the shared handling chose the code.</summary>
    public static IServiceCollection AddDatabaseUnavailableCounter(IServiceCollection services)
    {
        services.AddSingleton<DatabaseUnavailableCounter>();
        services.AddHostedService(sp => sp.GetRequiredService<DatabaseUnavailableCounter>());
        services.AddOptions<ProblemDetailsOptions>().PostConfigure<DatabaseUnavailableCounter>((options, counter) =>
        {
            var customize = options.CustomizeProblemDetails;
            options.CustomizeProblemDetails = context =>
            {
                customize?.Invoke(context);
                if (context.ProblemDetails.Extensions.TryGetValue(ApiProblem.CodeKey, out var code) && Equals(code, Code))
                {
                    counter._answers.Add(1);
                }
            };
        });
        return services;
    }

    /// <summary>Once the telemetry's own hosted service has started listening (it is registered first), the series appears at zero.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _answers.Add(0);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
