using System.Text.Json;
using Agent33.Routing.Effort;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Telemetry;

/// <summary>
/// Appends every decision to a JSONL file (<c>Routing:Export:Path</c>), one line per decision. A failed
/// write is counted; with <c>Routing:Export:FailClosed</c> the decision is refused instead of answered.
/// </summary>
public sealed partial class DecisionExport(IOptions<RoutingOptions> options, RoutingMetrics metrics, TimeProvider time, ILogger<DecisionExport> logger) : IDisposable
{
    private static readonly JsonSerializerOptions Json = Microsoft.Extensions.Hosting.ServiceDefaultsExtensions.ConfigureJson(new JsonSerializerOptions());

    private readonly string? _path = string.IsNullOrWhiteSpace(options.Value.Export.Path) ? null : Path.GetFullPath(options.Value.Export.Path);
    private readonly Lock _lock = new();
    private FileStream? _file;

    public bool FailClosed { get; } = options.Value.Export.FailClosed;

    /// <summary>False when the export is configured and the write failed.</summary>
    public bool TryWrite(DecisionRequest request, EffortDecision decision)
    {
        if (_path is null)
        {
            return true;
        }
        var line = JsonSerializer.SerializeToUtf8Bytes(new { timestamp = time.GetUtcNow(), request.TenantId, request.Domain, request.Provider, decision }, Json);
        try
        {
            lock (_lock)
            {
                if (_file is null)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
                    _file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
                }
                _file.Write(line);
                _file.WriteByte((byte)'\n');
                _file.Flush();
            }
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            lock (_lock)
            {
                _file?.Dispose();
                _file = null; // reopen on the next decision: the disk may come back
            }
            metrics.ExportFailed();
            LogFailed(logger, _path, ex.Message);
            return false;
        }
    }

    public void Dispose() => _file?.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Routing decision export to {Path} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string path, string reason);
}
