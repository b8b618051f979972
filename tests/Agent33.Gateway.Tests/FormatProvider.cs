using System.Collections.Concurrent;
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
/// A provider on loopback that speaks each upstream format the gateway knows, as their documentation describes it:
/// OpenAI chat completions at <c>/openai/v1/chat/completions</c>, Anthropic Messages at <c>/anthropic/v1/messages</c>,
/// OpenAI Responses at <c>/responses/v1/responses</c>.
/// Its answers are fixed so tests can check them through any translation: when the request offers tools and the
/// conversation does not end with a tool's result, it calls the first tool with <c>{"city":"Paris"}</c>; otherwise it
/// answers "&lt;format&gt; says: &lt;the last user text or tool result&gt;", streamed in three pieces when asked.
/// Usage: OpenAI 11 prompt / 7 completion tokens, Anthropic 13 input (10 uncached + 3 read from its cache) / 5 output,
/// Responses 17 input (4 cached) / 3 output. A model whose name ends in <c>-cut</c> has its stream cut after the first
/// piece of text (chat completions and Responses), without the end a complete stream has.
/// Embeddings (<c>/openai/v1/embeddings</c>): one 3-dimensional vector per input, 4 prompt tokens per input.
/// </summary>
public sealed class FormatProvider : IAsyncDisposable
{
    private WebApplication _app = null!;

    public string Address { get; private set; } = "";

    /// <summary>Every request: the format's path segment, the body, the request's headers.</summary>
    public ConcurrentQueue<(string Format, JsonObject Body, IHeaderDictionary Headers)> Requests { get; } = new();

    public static async Task<FormatProvider> StartAsync()
    {
        var provider = new FormatProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/openai/v1/chat/completions", async context => await provider.ChatAsync(context));
        app.MapPost("/anthropic/v1/messages", async context => await provider.MessagesAsync(context));
        app.MapPost("/openai/v1/embeddings", async context => await provider.EmbeddingsAsync(context));
        app.MapPost("/responses/v1/responses", async context => await provider.ResponsesAsync(context));
        await app.StartAsync();
        provider._app = app;
        provider.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return provider;
    }

    private async Task<JsonObject> ReadAsync(HttpContext context, string format)
    {
        var body = (JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!;
        Requests.Enqueue((format, body, new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value))));
        return body;
    }

    private static bool Cut(string? model) => model?.EndsWith("-cut", StringComparison.Ordinal) == true;

    private static bool Streams(JsonObject body) => body["stream"] is JsonValue s && s.GetValue<bool>();

    private static string[] Pieces(string text) => [text[..(text.Length / 3)], text[(text.Length / 3)..(2 * text.Length / 3)], text[(2 * text.Length / 3)..]];

    private static async Task SendAsync(HttpContext context, string? name, object data)
    {
        await context.Response.WriteAsync((name is null ? "" : $"event: {name}\n") + $"data: {JsonSerializer.Serialize(data)}\n\n");
        await context.Response.Body.FlushAsync();
    }

    // ---------- OpenAI chat completions ----------

    private async Task ChatAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "openai");
        var messages = (JsonArray)body["messages"]!;
        var last = (JsonObject)messages[^1]!;
        var tool = body["tools"] is JsonArray { Count: > 0 } tools && (string?)last["role"] != "tool" ? (string?)tools[0]!["function"]!["name"] : null;
        var model = (string?)body["model"];
        var text = $"openai says: {Text(last["content"])}";
        if (!Streams(body))
        {
            object message = tool is null
                ? new { role = "assistant", content = text }
                : new { role = "assistant", content = (string?)null, tool_calls = new[] { new { id = "call_1", type = "function", function = new { name = tool, arguments = "{\"city\":\"Paris\"}" } } } };
            await context.Response.WriteAsJsonAsync(new
            {
                id = "chatcmpl-f", @object = "chat.completion", created = 1, model,
                choices = new[] { new { index = 0, message, finish_reason = tool is null ? "stop" : "tool_calls" } },
                usage = new { prompt_tokens = 11, completion_tokens = 7, total_tokens = 18 },
            });
            return;
        }
        context.Response.ContentType = "text/event-stream";
        object Chunk(object delta, string? finish = null) => new { id = "chatcmpl-f", @object = "chat.completion.chunk", created = 1, model, choices = new[] { new { index = 0, delta, finish_reason = finish } } };
        await SendAsync(context, null, Chunk(new { role = "assistant", content = "" }));
        if (tool is null)
        {
            foreach (var piece in Pieces(text))
            {
                await SendAsync(context, null, Chunk(new { content = piece }));
                if (Cut(model))
                {
                    return;
                }
            }
        }
        else
        {
            await SendAsync(context, null, Chunk(new { tool_calls = new[] { new { index = 0, id = "call_1", type = "function", function = new { name = tool, arguments = "" } } } }));
            foreach (var piece in (string[])["{\"city\":", "\"Paris\"}"])
            {
                await SendAsync(context, null, Chunk(new { tool_calls = new[] { new { index = 0, function = new { arguments = piece } } } }));
            }
        }
        await SendAsync(context, null, Chunk(new { }, tool is null ? "stop" : "tool_calls"));
        if (body["stream_options"]?["include_usage"] is JsonValue u && u.GetValue<bool>())
        {
            await SendAsync(context, null, new { id = "chatcmpl-f", @object = "chat.completion.chunk", created = 1, model, choices = Array.Empty<object>(),
                usage = new { prompt_tokens = 11, completion_tokens = 7, total_tokens = 18 } });
        }
        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

    private async Task EmbeddingsAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "openai");
        var inputs = body["input"] is JsonArray many ? many.Count : 1;
        await context.Response.WriteAsJsonAsync(new
        {
            @object = "list",
            data = Enumerable.Range(0, inputs).Select(i => new { @object = "embedding", index = i, embedding = new[] { 0.5f, i, -0.25f } }),
            model = (string?)body["model"],
            usage = new { prompt_tokens = 4 * inputs, total_tokens = 4 * inputs },
        });
    }

    private static string Text(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Select(p => (string?)p?["text"] ?? Text(p?["content"]))),
        _ => "",
    };

    // ---------- Anthropic Messages ----------

    private async Task MessagesAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "anthropic");
        if (context.Request.Headers["anthropic-version"].Count == 0 || body["max_tokens"] is null)
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { type = "error", error = new { type = "invalid_request_error", message = "anthropic-version and max_tokens are required" } });
            return;
        }
        var messages = (JsonArray)body["messages"]!;
        var last = (JsonObject)messages[^1]!;
        var toolResult = last["content"] is JsonArray blocks ? blocks.FirstOrDefault(b => (string?)b?["type"] == "tool_result") : null;
        var tool = body["tools"] is JsonArray { Count: > 0 } tools && toolResult is null ? (string?)tools[0]!["name"] : null;
        var model = (string?)body["model"];
        var text = $"anthropic says: {(toolResult is null ? Text(last["content"]) : Text(toolResult["content"]))}";
        var usage = new { input_tokens = 10, cache_read_input_tokens = 3, cache_creation_input_tokens = 0, output_tokens = 5 };
        if (!Streams(body))
        {
            object block = tool is null
                ? new { type = "text", text }
                : new { type = "tool_use", id = "toolu_1", name = tool, input = new { city = "Paris" } };
            await context.Response.WriteAsJsonAsync(new
            {
                id = "msg_f", type = "message", role = "assistant", model, content = new[] { block },
                stop_reason = tool is null ? "end_turn" : "tool_use", stop_sequence = (string?)null, usage,
            });
            return;
        }
        context.Response.ContentType = "text/event-stream";
        await SendAsync(context, "message_start", new
        {
            type = "message_start",
            message = new { id = "msg_f", type = "message", role = "assistant", model, content = Array.Empty<object>(), stop_reason = (string?)null,
                stop_sequence = (string?)null, usage = new { input_tokens = 10, cache_read_input_tokens = 3, cache_creation_input_tokens = 0, output_tokens = 1 } },
        });
        await SendAsync(context, "ping", new { type = "ping" });
        if (tool is null)
        {
            await SendAsync(context, "content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } });
            foreach (var piece in Pieces(text))
            {
                await SendAsync(context, "content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = piece } });
            }
        }
        else
        {
            await SendAsync(context, "content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "tool_use", id = "toolu_1", name = tool, input = new { } } });
            foreach (var piece in (string[])["{\"city\":", "\"Paris\"}"])
            {
                await SendAsync(context, "content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "input_json_delta", partial_json = piece } });
            }
        }
        await SendAsync(context, "content_block_stop", new { type = "content_block_stop", index = 0 });
        await SendAsync(context, "message_delta", new { type = "message_delta", delta = new { stop_reason = tool is null ? "end_turn" : "tool_use", stop_sequence = (string?)null },
            usage = new { output_tokens = 5 } });
        await SendAsync(context, "message_stop", new { type = "message_stop" });
    }

    // ---------- OpenAI Responses ----------

    private async Task ResponsesAsync(HttpContext context)
    {
        var body = await ReadAsync(context, "responses");
        if (!context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal) || body["input"] is null)
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { error = new { message = "a bearer key and input are required", type = "invalid_request_error", code = (string?)null, param = (string?)null } });
            return;
        }
        var input = body["input"] switch
        {
            JsonArray items => items,
            var single => new JsonArray(new JsonObject { ["role"] = "user", ["content"] = single!.DeepClone() }),
        };
        var last = (JsonObject)input[^1]!;
        var toolResult = (string?)last["type"] == "function_call_output" ? (string?)last["output"] : null;
        var tool = body["tools"] is JsonArray { Count: > 0 } tools && toolResult is null ? (string?)tools[0]!["name"] : null;
        var model = (string?)body["model"];
        var text = $"responses says: {toolResult ?? Text(last["content"])}";
        var usage = new { input_tokens = 17, input_tokens_details = new { cached_tokens = 4 }, output_tokens = 3, output_tokens_details = new { reasoning_tokens = 0 }, total_tokens = 20 };
        object Item(string status, string? done) => tool is null
            ? new { id = "msg_r1", type = "message", status, role = "assistant",
                content = done is null ? Array.Empty<object>() : [new { type = "output_text", text = done, annotations = Array.Empty<object>() }] }
            : new { id = "fc_r1", type = "function_call", status, call_id = "call_r1", name = tool, arguments = done ?? "" };
        object Response(string status, object[] output, object? used) => new
        {
            id = "resp_upstream", @object = "response", created_at = 1, status, model, output, usage = used, error = (object?)null, incomplete_details = (object?)null,
            parallel_tool_calls = true, tools = Array.Empty<object>(), store = false,
        };
        if (!Streams(body))
        {
            await context.Response.WriteAsJsonAsync(Response("completed", [Item("completed", tool is null ? text : "{\"city\":\"Paris\"}")], usage));
            return;
        }
        context.Response.ContentType = "text/event-stream";
        var sequence = 0;
        Task Send(string type, object data)
        {
            var node = JsonSerializer.SerializeToNode(data)!.AsObject();
            node.Insert(0, "type", type);
            node["sequence_number"] = sequence++;
            return SendAsync(context, type, node);
        }
        await Send("response.created", new { response = Response("in_progress", [], null) });
        await Send("response.in_progress", new { response = Response("in_progress", [], null) });
        await Send("response.output_item.added", new { output_index = 0, item = Item("in_progress", null) });
        string done;
        if (tool is null)
        {
            await Send("response.content_part.added", new { item_id = "msg_r1", output_index = 0, content_index = 0, part = new { type = "output_text", text = "", annotations = Array.Empty<object>() } });
            foreach (var piece in Pieces(text))
            {
                await Send("response.output_text.delta", new { item_id = "msg_r1", output_index = 0, content_index = 0, delta = piece });
                if (Cut(model))
                {
                    return;
                }
            }
            await Send("response.output_text.done", new { item_id = "msg_r1", output_index = 0, content_index = 0, text });
            await Send("response.content_part.done", new { item_id = "msg_r1", output_index = 0, content_index = 0, part = new { type = "output_text", text, annotations = Array.Empty<object>() } });
            done = text;
        }
        else
        {
            foreach (var piece in (string[])["{\"city\":", "\"Paris\"}"])
            {
                await Send("response.function_call_arguments.delta", new { item_id = "fc_r1", output_index = 0, delta = piece });
            }
            done = "{\"city\":\"Paris\"}";
            await Send("response.function_call_arguments.done", new { item_id = "fc_r1", output_index = 0, arguments = done });
        }
        await Send("response.output_item.done", new { output_index = 0, item = Item("completed", done) });
        await Send("response.completed", new { response = Response("completed", [Item("completed", done)], usage) });
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
