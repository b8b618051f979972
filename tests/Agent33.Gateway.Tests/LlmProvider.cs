using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Gateway.Tests;

/// <summary>
/// OpenAI-compatible providers on loopback, one per path prefix: <c>/ok/v1</c> answers, <c>/down/v1</c> answers 500,
/// <c>/busy/v1</c> answers 429. Streams send five content chunks 150 ms apart, then the usage chunk when asked.
/// </summary>
public sealed class LlmProvider : IAsyncDisposable
{
    private WebApplication _app = null!;

    public string Address { get; private set; } = "";

    /// <summary>Every request body a provider took, with the provider's name and the Authorization it got.</summary>
    public ConcurrentQueue<(string Provider, JsonObject Body, string Authorization)> Requests { get; } = new();

    /// <summary>When each provider sent its last chunk (a Stopwatch timestamp).</summary>
    public long LastChunkAt;

    /// <summary>The headers of the last call, as the provider received them.</summary>
    public IHeaderDictionary? LastHeaders { get; private set; }

    public static async Task<LlmProvider> StartAsync()
    {
        var provider = new LlmProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/{name}/v1/chat/completions", async (string name, HttpContext context) =>
        {
            var body = (JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!;
            provider.Requests.Enqueue((name, body, context.Request.Headers.Authorization.ToString()));
            provider.LastHeaders = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            switch (name)
            {
                case "down":
                    context.Response.StatusCode = 500;
                    return;
                case "busy":
                    context.Response.StatusCode = 429;
                    await context.Response.WriteAsJsonAsync(new { error = new { message = "slow down", type = "rate_limit", code = "rate_limited" } });
                    return;
            }
            var model = body["model"]!.GetValue<string>();
            if (body["stream"]?.GetValue<bool>() != true)
            {
                await context.Response.WriteAsJsonAsync(new
                {
                    id = "chatcmpl-1", @object = "chat.completion", created = 1, model,
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = $"{name} says hello" }, finish_reason = "stop" } },
                    usage = new { prompt_tokens = 11, completion_tokens = 7, total_tokens = 18 },
                });
                return;
            }
            context.Response.ContentType = "text/event-stream";
            for (var i = 0; i < 5; i++)
            {
                var chunk = new { id = "chatcmpl-1", @object = "chat.completion.chunk", created = 1, model,
                    choices = new[] { new { index = 0, delta = new { role = "assistant", content = $"part{i} " }, finish_reason = i == 4 ? "stop" : null } } };
                await context.Response.WriteAsync($"data: {JsonSerializer.Serialize(chunk)}\n\n");
                await context.Response.Body.FlushAsync();
                if (i < 4)
                {
                    await Task.Delay(150);
                }
            }
            if (body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
            {
                await context.Response.WriteAsync("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"" + model
                    + "\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,\"total_tokens\":16}}\n\n");
            }
            await context.Response.WriteAsync("data: [DONE]\n\n");
            Interlocked.Exchange(ref provider.LastChunkAt, Stopwatch.GetTimestamp());
        });
        await app.StartAsync();
        provider._app = app;
        provider.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return provider;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
