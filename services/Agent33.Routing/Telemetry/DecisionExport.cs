using System.Text;
using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Routing.Effort;
using Agent33.ServiceDefaults.Compatibility;
using Microsoft.Extensions.Options;

namespace Agent33.Routing.Telemetry;

/// <summary>
/// Appends every decision to a JSONL file (<c>Routing:Export:Path</c>), one line per decision, in the reference
/// exporter's shape <c>{"timestamp": …, "routing": {…}}</c> so the files its consumers read keep working. A failed
/// write is counted; with <c>Routing:Export:FailClosed</c> the decision is refused instead of answered.
/// </summary>
public sealed partial class DecisionExport(IOptions<RoutingOptions> options, RoutingMetrics metrics, TimeProvider time, ILogger<DecisionExport> logger) : IDisposable
{
    // Non-ASCII text kept as is, as the reference writes it (json.dumps(event, ensure_ascii=False)); this is a file, never HTML.
    private static readonly JsonSerializerOptions Json = Microsoft.Extensions.Hosting.ServiceDefaultsExtensions.ConfigureJson(
        new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

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
        var line = JsonSerializer.SerializeToUtf8Bytes(new ExportEvent(IsoFormat(time.GetUtcNow()), ExportedRouting.From(request, decision)), Json);
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

    /// <summary>Python's <c>datetime.now(UTC).isoformat()</c>: microseconds (dropped when zero) and <c>+00:00</c>.</summary>
    internal static string IsoFormat(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        var format = utc.Ticks % TimeSpan.TicksPerSecond / 10 == 0 ? "yyyy-MM-dd'T'HH:mm:ss'+00:00'" : "yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'";
        return utc.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed record ExportEvent(string Timestamp, ExportedRouting Routing);

    /// <summary>
    /// The reference runtime's routing metadata, key for key. The routing service invokes no agent, so the
    /// invocation keys (<c>invocation_id</c>, <c>invocation_mode</c>, <c>session_id</c>, <c>agent_name</c>) are
    /// null; <c>provider</c> is ours, added so the estimate's pricing can be traced.
    /// </summary>
    private sealed record ExportedRouting(
        string? InvocationId, string? InvocationMode, string? SessionId, string? AgentName,
        string? RequestedModel, string? DefaultModel,
        string Effort, string EffortSource, double TokenMultiplier, int EstimatedTokenBudget,
        double? EstimatedCost, string? EstimatedCostStatus, string? EstimatedCostSource, string? EstimatedCostSourceUrl, string? EstimatedCostFetchedAt,
        string? TenantId, string? Domain, string? PolicyKey,
        double? HeuristicConfidence, int? HeuristicScore, int? HeuristicLowThreshold, int? HeuristicHighThreshold, IReadOnlyList<string> HeuristicReasons,
        string SelectedModel, int RoutedMaxTokens, int InputFieldCount, int InputCharCount, int? RequestedMaxIterations,
        string? Provider)
    {
        public static ExportedRouting From(DecisionRequest request, EffortDecision d)
        {
            var (fields, chars) = Measure(request.Inputs);
            return new ExportedRouting(
                null, null, null, null,
                request.RequestedModel, request.DefaultModel,
                d.Effort, d.EffortSource, d.TokenMultiplier, d.EstimatedTokenBudget,
                d.EstimatedCost, d.EstimatedCostStatus, d.EstimatedCostSource, d.EstimatedCostSourceUrl, d.EstimatedCostFetchedAt,
                d.TenantId, d.Domain, d.PolicyKey,
                d.HeuristicConfidence, d.HeuristicScore, d.HeuristicLowThreshold, d.HeuristicHighThreshold, d.HeuristicReasons,
                d.Model, d.MaxTokens, fields, chars, request.MaxIterations,
                request.Provider);
        }

        /// <summary><c>len(inputs or {})</c> and <c>len(json.dumps(inputs or {}, sort_keys=True, ensure_ascii=False))</c>, in code points.</summary>
        private static (int Fields, int Chars) Measure(JsonElement? inputs)
        {
            if (inputs is not { ValueKind: JsonValueKind.Object } obj)
            {
                return (0, 2); // "{}"
            }
            var text = new StringBuilder();
            PythonJson.AppendDumps(obj, text);
            var chars = 0;
            foreach (var chunk in text.GetChunks())
            {
                foreach (var c in chunk.Span)
                {
                    chars += char.IsLowSurrogate(c) ? 0 : 1;
                }
            }
            return (obj.EnumerateObject().Select(p => p.Name).Distinct(StringComparer.Ordinal).Count(), chars);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Routing decision export to {Path} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string path, string reason);
}
