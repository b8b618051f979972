using System.ComponentModel;
using System.Net;
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
    public System.Collections.Concurrent.ConcurrentQueue<System.Text.Json.JsonElement> Signals { get; } = new();

    public static async Task<Upstream> StartAsync()
    {
        var upstream = new Upstream();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
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
        app.MapPost("/v1/improvements/learning/signals", (System.Text.Json.JsonElement signal) =>
        {
            upstream.Signals.Enqueue(signal);
            return Results.Created();
        });
        app.MapGet("/crash", () => Results.Problem("System.InvalidOperationException: secret connection string Password=hunter2 at Upstream.Crash()", statusCode: 500));
        app.MapGet("/redirect", () => Results.Redirect("http://169.254.169.254/latest/meta-data/"));
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

    /// <summary>How often the destructive tool really ran: governance tests require it never to move.</summary>
    public static int DeleteRecordsCalls;

    [McpServerTool(Name = "delete_records", Destructive = true), Description("Deletes records.")]
    public static string DeleteRecords(string table)
    {
        Interlocked.Increment(ref DeleteRecordsCalls);
        return $"deleted {table}";
    }
}
