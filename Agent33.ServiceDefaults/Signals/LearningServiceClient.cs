using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Agent33.Contracts;
using Agent33.Contracts.Learning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Agent33.ServiceDefaults.Signals;

/// <summary>
/// The client the routing service and the gateway post their learning signals with. Signals are best effort
/// and posted in the background, so a short retry replaces the default pipeline's long backoff: a lost signal
/// is counted within seconds instead of holding a queue for half a minute.
/// </summary>
public static class LearningServiceClient
{
    public const string Name = ServiceNames.Learning;
    public const string SignalsPath = SignalRequest.Path;

    public static void AddLearningServiceClient(this IServiceCollection services)
    {
#pragma warning disable EXTEXP0001 // replacing the default pipeline for one client is still marked experimental
        services.AddHttpClient(Name, client => client.BaseAddress = ServiceNames.DiscoveryAddress(ServiceNames.Learning))
            .RemoveAllResilienceHandlers()
            .AddResilienceHandler("learning-signal", pipeline => pipeline
                .AddTimeout(TimeSpan.FromSeconds(10))
                .AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = 2, Delay = TimeSpan.FromMilliseconds(200) })
                .AddTimeout(TimeSpan.FromSeconds(3)));
#pragma warning restore EXTEXP0001
    }

    /// <summary>
    /// Posts one learning signal with the service's own key (<see cref="SharedSettings.ServiceApiKey"/>) and returns the
    /// learning service's answer; throws when the service cannot be reached.
    /// </summary>
    public static async Task<HttpStatusCode> PostSignalAsync(this IHttpClientFactory clients, string? serviceApiKey, SignalRequest signal, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, SignalsPath) { Content = JsonContent.Create(signal) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", serviceApiKey ?? "");
        using var response = await clients.CreateClient(Name).SendAsync(request, cancellationToken);
        return response.StatusCode;
    }
}
