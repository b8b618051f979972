using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Agent33.ServiceDefaults.Pages;

namespace Agent33.Learning.Domain;

/// <summary>
/// Every matching signal as NDJSON — one JSON object per line, newest first, each as <c>GET /signals</c> answers it —
/// read page by page through the same keyset as the list, so memory stays flat whatever the count. A walk starts at
/// the newest signal when it begins: signals recorded during it are not included, none is written twice.
/// </summary>
public static class SignalExport
{
    public const string ContentType = "application/x-ndjson";
    public const string ConcurrencyPolicy = "signal-export";
    public const int ConcurrentPerKey = 2;
    private const int PageSize = 1000;

    /// <summary>Writes the signals and flushes after each page; returns how many were written.</summary>
    public static async Task<long> WriteAsync(
        SignalQueries signals, string tenant, string? signalType, string? severity, PageQuery range, PipeWriter output,
        JsonSerializerOptions json, CancellationToken ct)
    {
        var page = range with { Limit = PageSize, After = null };
        long written = 0;
        await using var writer = new Utf8JsonWriter(output);
        while (true)
        {
            var found = await signals.ListAsync(tenant, signalType, severity, page, ct);
            foreach (var signal in found.Items)
            {
                JsonSerializer.Serialize(writer, signal, json);
                writer.Flush(); // into the pipe's buffer: no I/O until the page is flushed
                writer.Reset();
                output.Write("\n"u8);
            }
            written += found.Items.Count;
            await output.FlushAsync(ct);
            if (found.Next is not { } next)
            {
                return written;
            }
            page = page with { After = next };
        }
    }
}
