using System.Text.Json;
using System.Text.Json.Serialization;

namespace Agent33.Deploy.Dashboards;

// Grafana's dashboard JSON model (schema 39), as much of it as our dashboards use. Typed records, serialized with
// System.Text.Json: a misspelt field is a compile error, never a panel Grafana silently ignores.

/// <summary>One dashboard; <see cref="Uid"/> is stable so links and the sidecar's updates keep pointing at it.</summary>
public sealed record GrafanaDashboard(
    string Uid,
    string Title,
    string Description,
    IReadOnlyList<string> Tags,
    GrafanaTemplating Templating,
    IReadOnlyList<GrafanaPanel> Panels)
{
    public int SchemaVersion { get; init; } = 39;
    public int Version { get; init; } = 1;
    public bool Editable { get; init; } = true;
    public string Refresh { get; init; } = "30s";
    public GrafanaTimeRange Time { get; init; } = new("now-6h", "now");
    public string Timezone { get; init; } = "utc";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // "don't", "→" as written: the JSON is a file, never HTML
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";
}

public sealed record GrafanaTimeRange(string From, string To);

public sealed record GrafanaTemplating(IReadOnlyList<GrafanaVariable> List);

/// <summary>A dashboard variable; ours is the Prometheus data source, so one dashboard serves any Grafana.</summary>
public sealed record GrafanaVariable(string Name, string Label, string Type, string Query)
{
    public GrafanaVariableValue Current { get; init; } = new("Prometheus", "prometheus");
}

public sealed record GrafanaVariableValue(string Text, string Value);

/// <summary>A data source reference: the dashboard's <c>${datasource}</c> variable.</summary>
public sealed record GrafanaDatasource(string Type, string Uid)
{
    public static readonly GrafanaDatasource Prometheus = new("prometheus", "${datasource}");
}

/// <summary>A panel: a time series, a stat or a row header.</summary>
public sealed record GrafanaPanel(
    int Id,
    string Title,
    string Type,
    GrafanaGridPos GridPos,
    string? Description = null,
    GrafanaDatasource? Datasource = null,
    IReadOnlyList<GrafanaTarget>? Targets = null,
    GrafanaFieldConfig? FieldConfig = null);

public sealed record GrafanaGridPos(int H, int W, int X, int Y);

/// <summary>A PromQL query of a panel; <see cref="LegendFormat"/> names each series by its labels.</summary>
public sealed record GrafanaTarget(string RefId, string Expr, string LegendFormat)
{
    public GrafanaDatasource Datasource { get; init; } = GrafanaDatasource.Prometheus;
}

public sealed record GrafanaFieldConfig(GrafanaFieldDefaults Defaults)
{
    public IReadOnlyList<object> Overrides { get; init; } = [];
}

public sealed record GrafanaFieldDefaults(string Unit, double? Min = null);
