using System.ComponentModel;
using ModelContextProtocol.Server;

namespace Agent33.Demo;

/// <summary>
/// Stand-ins for the outside world the gateway governs: a steady HTTP upstream, one that flaps (so a
/// circuit opens and recovers), and an MCP tool server. They answer without an Agent33 key, as a real
/// third-party server would.
/// </summary>
public static class DemoUpstreams
{
    /// <summary>In every minute the flaky upstream fails from second 20 to second 35.</summary>
    public static bool FlakyIsDown(DateTimeOffset now) => now.Second is >= 20 and < 35;

    public static IHostApplicationBuilder AddDemoWorkload(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = true).WithTools<DemoTools>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<DemoTraffic>();
        return builder;
    }

    public static WebApplication MapDemoUpstreams(this WebApplication app)
    {
        var upstream = app.MapGroup("/upstream").AllowAnonymous();
        upstream.MapGet("/stable/{**path}", (string? path) =>
            TypedResults.Ok(new { upstream = "stable", path, model = "demo-model", ok = true }));
        // A write, for the gateway's sample of a non-idempotent call made retryable (Idempotency-Key).
        upstream.MapPost("/stable/{**path}", (string? path, HttpRequest request) =>
            TypedResults.Ok(new { upstream = "stable", path, method = request.Method, idempotency_key = request.Headers["Idempotency-Key"].ToString(), ok = true }));
        upstream.MapGet("/flaky/{**path}", (string? path, TimeProvider time) =>
            FlakyIsDown(time.GetUtcNow())
                ? Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The demo's flaky upstream is down this quarter-minute.")
                : TypedResults.Ok(new { upstream = "flaky", path, ok = true }));
        // OpenAI-compatible providers: "primary" is down with the flaky upstream (so calls fall back), "backup" never is.
        app.MapPost("/llm/{provider}/v1/chat/completions", async (string provider, HttpContext context, TimeProvider time) =>
        {
            if (provider == "primary" && FlakyIsDown(time.GetUtcNow()))
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
            var request = (await System.Text.Json.Nodes.JsonNode.ParseAsync(context.Request.Body))!;
            var model = request["model"]?.GetValue<string>() ?? "demo-model";
            var words = new[] { "The", " demo", " provider", " answers", $" from {provider}." };
            if (request["stream"]?.GetValue<bool>() != true)
            {
                await context.Response.WriteAsJsonAsync(new
                {
                    id = "chatcmpl-demo", @object = "chat.completion", created = time.GetUtcNow().ToUnixTimeSeconds(), model,
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = string.Concat(words) }, finish_reason = "stop" } },
                    usage = new { prompt_tokens = 40, completion_tokens = 25, total_tokens = 65 },
                });
                return;
            }
            context.Response.ContentType = "text/event-stream";
            foreach (var word in words)
            {
                await context.Response.WriteAsync("data: " + System.Text.Json.JsonSerializer.Serialize(new
                {
                    id = "chatcmpl-demo", @object = "chat.completion.chunk", model,
                    choices = new[] { new { index = 0, delta = new { content = word } } },
                }) + "\n\n");
                await context.Response.Body.FlushAsync();
                await Task.Delay(80);
            }
            await context.Response.WriteAsync("data: {\"id\":\"chatcmpl-demo\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":25,\"total_tokens\":65}}\n\ndata: [DONE]\n\n");
        }).AllowAnonymous();
        app.MapMcp("/mcp").AllowAnonymous();
        return app;
    }
}

/// <summary>The demo MCP server's tools: a read-only one, and a destructive one the gateway denies.</summary>
[McpServerToolType]
public sealed class DemoTools
{
    [McpServerTool(Name = "search_docs", ReadOnly = true), Description("Searches the demo documentation.")]
    public static string SearchDocs([Description("What to look for.")] string query) =>
        $"3 documents match '{query}': runbook.md, alerts.md, policy-packs.md";

    [McpServerTool(Name = "delete_records", Destructive = true), Description("Deletes records (the gateway's deny rule blocks it).")]
    public static string DeleteRecords([Description("The table to empty.")] string table) => $"deleted every row of {table}";
}
