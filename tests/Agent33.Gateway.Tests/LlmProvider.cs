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
/// Misbehaving providers for the spend tests: <c>/slow/v1</c> answers after 200 ms; <c>/big/v1</c> answers 5.2 MB of
/// JSON with its usage at the end; <c>/nousage/v1</c> streams without a usage chunk; <c>/stall/v1</c> streams two
/// chunks and goes silent; <c>/cut/v1</c> streams two chunks and drops the connection; <c>/endless/v1</c> sends one
/// event that never ends (<c>/endless-after/v1</c> after one normal chunk); <c>/negative/v1</c> and <c>/absurd/v1</c>
/// report usage of -1,000,000 and 2^63-1 tokens.
/// </summary>
public sealed class LlmProvider : IAsyncDisposable
{
    private WebApplication _app = null!;

    public string Address { get; private set; } = "";

    /// <summary>Every request body a provider took, with the provider's name and the Authorization it got.</summary>
    public ConcurrentQueue<(string Provider, JsonObject Body, string Authorization)> Requests { get; } = new();

    /// <summary>When each provider sent its last chunk (a Stopwatch timestamp).</summary>
    public long LastChunkAt;

    /// <summary>The endless providers' writes failed: the gateway stopped the upstream.</summary>
    public TaskCompletionSource EndlessStopped { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ResetEndless()
    {
        EndlessStopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static readonly byte[] Filler = System.Text.Encoding.ASCII.GetBytes(new string('x', 16 * 1024));

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
            switch (name)
            {
                case "slow":
                    await Task.Delay(200);
                    break;
                case "big":
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync("{\"id\":\"chatcmpl-big\",\"object\":\"chat.completion\",\"model\":\"" + model
                        + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
                    for (var i = 0; i < 325; i++) // 5.2 MB of text
                    {
                        await context.Response.Body.WriteAsync(Filler);
                    }
                    await context.Response.WriteAsync("\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":1234,\"total_tokens\":1245}}");
                    return;
                case "negative":
                case "absurd":
                    var bad = name == "negative" ? "-1000000" : "9223372036854775807";
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync("{\"id\":\"chatcmpl-bad\",\"object\":\"chat.completion\",\"model\":\"" + model
                        + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hello there\"},\"finish_reason\":\"stop\"}],"
                        + $"\"usage\":{{\"prompt_tokens\":{bad},\"completion_tokens\":{(name == "negative" ? "7" : bad)}}}}}");
                    return;
                case "endless":
                case "endless-after":
                    context.Response.ContentType = "text/event-stream";
                    if (name == "endless-after")
                    {
                        await context.Response.WriteAsync("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"" + model
                            + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"first \"}}]}\n\n");
                        await context.Response.Body.FlushAsync();
                    }
                    await context.Response.WriteAsync("data: {\"choices\":[{\"delta\":{\"content\":\"");
                    try
                    {
                        for (var i = 0; i < 100_000 && !context.RequestAborted.IsCancellationRequested; i++) // 1.6 GB at most
                        {
                            await context.Response.Body.WriteAsync(Filler, context.RequestAborted);
                        }
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
                    {
                    }
                    provider.EndlessStopped.TrySetResult();
                    return;
            }
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
                if (i == 2 && name is "stall" or "cut")
                {
                    if (name == "cut")
                    {
                        context.Abort();
                        return;
                    }
                    await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { });
                    return;
                }
                var chunk = new { id = "chatcmpl-1", @object = "chat.completion.chunk", created = 1, model,
                    choices = new[] { new { index = 0, delta = new { role = "assistant", content = $"part{i} " }, finish_reason = i == 4 ? "stop" : null } } };
                await context.Response.WriteAsync($"data: {JsonSerializer.Serialize(chunk)}\n\n");
                await context.Response.Body.FlushAsync();
                if (i < 4)
                {
                    await Task.Delay(150);
                }
            }
            if (body["stream_options"]?["include_usage"]?.GetValue<bool>() == true && name != "nousage")
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
