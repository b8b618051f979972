using System.ComponentModel;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Server;

namespace Agent33.Gateway.Tests;

/// <summary>
/// A real HTTP and MCP server on loopback standing in for the outside world, counting what reaches it; it also
/// stands in for the learning service, keeping the signals posted to it.
/// </summary>
public sealed class Upstream : IAsyncDisposable
{
    private WebApplication _app = null!;
    private int _flakyCalls;

    public string Address { get; private set; } = "";

    public int Hits;
    public int FailuresBeforeSuccess { get; set; }
    public string? LastAuthorization { get; private set; }

    /// <summary>The request headers of the last call to <c>/headers</c>.</summary>
    public IHeaderDictionary? LastHeaders { get; private set; }

    public System.Collections.Concurrent.ConcurrentQueue<System.Text.Json.JsonElement> Signals { get; } = new();

    /// <summary>The description <c>/drifting-mcp</c> lists for <c>search_docs</c>: a test changes it to play a server that changes a tool after review.</summary>
    public string SearchDocsDescription { get; set; } = "Searches documents.";

    /// <summary>How often this server's destructive tool really ran: governance tests require it never to move (per server, as tests run in parallel).</summary>
    public int DeleteRecordsCalls;

    /// <summary>The <c>tools/call</c>s that reached <c>/drifting-mcp</c>.</summary>
    public int DriftingToolCalls;

    private int _listings;

    /// <summary>Starts the server on <paramref name="port"/> (any free one by default; a given one plays a server that comes up late).</summary>
    public static async Task<Upstream> StartAsync(int port = 0)
    {
        var upstream = new Upstream();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddSingleton(upstream); // the tools count their calls on their own server
        builder.Services.AddMcpServer().WithHttpTransport(o => o.Stateless = true).WithTools<UpstreamTools>();
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref upstream.Hits);
            upstream.LastAuthorization = context.Request.Headers.Authorization.ToString() + context.Request.Headers["X-Api-Key"];
            await next();
        });
        app.MapGet("/ok/{**rest}", (string? rest) => Results.Ok(new { ok = true, rest }));
        app.MapGet("/status/{code:int}", (int code) => Results.StatusCode(code));
        app.MapPost("/status/{code:int}", (int code) => Results.StatusCode(code));
        app.MapGet("/flaky", () => Interlocked.Increment(ref upstream._flakyCalls) <= upstream.FailuresBeforeSuccess ? Results.StatusCode(503) : Results.Ok(new { recovered = true }));
        app.MapGet("/slow", async (CancellationToken ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), ct);
            return Results.Ok();
        });
        app.MapGet("/reset", (HttpContext context) => context.Abort()); // the connection dies without an answer
        app.MapGet("/claims-connector/{code:int}", (int code, HttpContext context) =>
        {
            context.Response.Headers["X-Connector-Id"] = "tool:someone-else"; // an upstream naming another connector
            return Results.StatusCode(code);
        });
        app.MapPost("/v1/improvements/learning/signals", (System.Text.Json.JsonElement signal) =>
        {
            upstream.Signals.Enqueue(signal);
            return Results.Created();
        });
        app.MapGet("/crash", () => Results.Problem("System.InvalidOperationException: secret connection string Password=hunter2 at Upstream.Crash()", statusCode: 500));
        app.MapGet("/redirect", () => Results.Redirect("http://169.254.169.254/latest/meta-data/"));
        app.MapGet("/headers", (HttpContext context) =>
        {
            upstream.LastHeaders = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            return Results.Ok();
        });
        // An answer of `mb` megabytes with any status, written in 64 KiB pieces.
        app.MapGet("/big/{code:int}", async (int code, int mb, HttpContext context) =>
        {
            context.Response.StatusCode = code;
            context.Response.ContentLength = mb * 1024L * 1024;
            var piece = new byte[64 * 1024];
            try
            {
                // (Kestrel turns writes to a connection the reader closed into no-ops, so the loop asks.)
                for (var i = 0; i < mb * 16 && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(piece, context.RequestAborted);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // the reader went away
            }
        });
        // An event stream that sends an event every `ms` milliseconds, `count` times, without a Content-Length.
        app.MapGet("/events", async (int count, int ms, HttpContext context) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.Body.FlushAsync();
            for (var i = 0; i < count; i++)
            {
                await context.Response.WriteAsync($"data: {i}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(ms, context.RequestAborted);
            }
        });
        app.MapMethods("/echo", ["POST", "PUT", "PATCH"], async (HttpContext context) =>
        {
            var length = 0L;
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                length += read;
            }
            return Results.Ok(new { length });
        });
        // Hand-written MCP tools/list answers in the shapes that once slipped past the filter.
        app.MapPost("/fake-mcp/{shape}", (string shape, HttpContext context) =>
        {
            const string list = """{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search_docs"},{"name":"delete_records"}]}}""";
            var gzipAsked = context.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase);
            byte[] body;
            switch (shape)
            {
                case "multiline-sse":
                    context.Response.ContentType = "text/event-stream";
                    body = System.Text.Encoding.UTF8.GetBytes("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"tools\":[{\"name\":\"search_docs\"},{\"name\":\"delete_records\"}]}}\n\n");
                    break;
                case "bom":
                    context.Response.ContentType = "application/json";
                    body = [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.UTF8.GetBytes(list)];
                    break;
                case "gzip-when-asked" when gzipAsked:
                case "gzip-always":
                    context.Response.ContentType = "application/json";
                    context.Response.Headers.ContentEncoding = "gzip";
                    using (var packed = new MemoryStream())
                    {
                        using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Fastest))
                        {
                            gzip.Write(System.Text.Encoding.UTF8.GetBytes(list));
                        }
                        body = packed.ToArray();
                    }
                    break;
                default:
                    context.Response.ContentType = "application/json";
                    body = System.Text.Encoding.UTF8.GetBytes(list);
                    break;
            }
            return Results.Bytes(body, context.Response.ContentType);
        });
        // A hand-written MCP server whose tools/list a test may change; every other listing writes its keys in
        // reverse order, which is no change of the tools.
        app.MapPost("/drifting-mcp", async (HttpContext context) =>
        {
            var request = (await JsonNode.ParseAsync(context.Request.Body))!;
            var lists = request["method"]?.ToString() == "tools/list";
            var reversed = lists && Interlocked.Increment(ref upstream._listings) % 2 == 0;
            if (request["method"]?.ToString() == "tools/call")
            {
                Interlocked.Increment(ref upstream.DriftingToolCalls);
            }
            JsonObject Tool(string name, string description, string argument)
            {
                KeyValuePair<string, JsonNode?>[] fields =
                [
                    new("name", name), new("description", description),
                    new("inputSchema", JsonNode.Parse($$$"""{"type":"object","properties":{"{{{argument}}}":{"type":"string"}},"required":["{{{argument}}}"]}""")),
                ];
                return new JsonObject(reversed ? fields.Reverse() : fields);
            }
            JsonNode result = lists
                ? new JsonObject { ["tools"] = new JsonArray(Tool("search_docs", upstream.SearchDocsDescription, "query"), Tool("delete_records", "Deletes records.", "table")) }
                : new JsonObject { ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = $"ran {request["params"]?["name"]}" }) };
            var answer = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = request["id"]?.DeepClone(), ["result"] = result };
            return Results.Text(answer.ToJsonString(), "application/json");
        });
        app.MapMcp("/mcp");
        await app.StartAsync();
        upstream._app = app;
        upstream.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return upstream;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}

[McpServerToolType]
public sealed class UpstreamTools
{
    [McpServerTool(Name = "search_docs", ReadOnly = true), Description("Searches documents.")]
    public static string SearchDocs(string query) => $"found {query}";

    /// <summary>Reports progress every 200 ms for <paramref name="seconds"/>, then answers: a long tool call.</summary>
    [McpServerTool(Name = "slow_report", ReadOnly = true), Description("Builds a report slowly, reporting progress.")]
    public static async Task<string> SlowReport(double seconds, IProgress<ModelContextProtocol.ProgressNotificationValue> progress, CancellationToken cancellationToken)
    {
        var steps = (int)(seconds * 5);
        for (var i = 1; i <= steps; i++)
        {
            await Task.Delay(200, cancellationToken);
            progress.Report(new ModelContextProtocol.ProgressNotificationValue { Progress = i, Total = steps });
        }
        return $"report ready after {seconds} s";
    }

    [McpServerTool(Name = "delete_records", Destructive = true), Description("Deletes records.")]
    public static string DeleteRecords(string table, Upstream upstream)
    {
        Interlocked.Increment(ref upstream.DeleteRecordsCalls);
        return $"deleted {table}";
    }
}
