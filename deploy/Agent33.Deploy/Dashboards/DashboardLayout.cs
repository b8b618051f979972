namespace Agent33.Deploy.Dashboards;

/// <summary>
/// Lays panels out as Grafana's editor would: rows of two half-width time series, a full-width row header per
/// section, ids in order. Builders say what a panel shows; this says where it goes.
/// </summary>
public sealed class DashboardLayout
{
    private const int Height = 8;
    private const int HalfWidth = 12;
    private readonly List<GrafanaPanel> _panels = [];
    private int _y;
    private int _x;

    public IReadOnlyList<GrafanaPanel> Panels => _panels;

    public DashboardLayout Row(string title)
    {
        NewLine();
        _panels.Add(new GrafanaPanel(_panels.Count + 1, title, "row", new GrafanaGridPos(1, 24, 0, _y)));
        _y += 1;
        return this;
    }

    /// <summary>A time series panel of one or more queries; <paramref name="description"/> says what to read in it.</summary>
    public DashboardLayout TimeSeries(string title, string description, string unit, params (string Expr, string Legend)[] queries)
    {
        if (_x + HalfWidth > 24)
        {
            NewLine();
        }
        _panels.Add(new GrafanaPanel(
            _panels.Count + 1, title, "timeseries", new GrafanaGridPos(Height, HalfWidth, _x, _y), description, GrafanaDatasource.Prometheus,
            [.. queries.Select((q, i) => new GrafanaTarget(((char)('A' + i)).ToString(), q.Expr, q.Legend))],
            new GrafanaFieldConfig(new GrafanaFieldDefaults(unit, Min: 0))));
        _x += HalfWidth;
        return this;
    }

    private void NewLine()
    {
        if (_x > 0)
        {
            _y += Height;
            _x = 0;
        }
    }
}
