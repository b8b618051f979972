using System.Globalization;
using System.Text.RegularExpressions;

namespace Agent33.Testing;

/// <summary>Reads samples out of a service's <c>/metrics</c> (Prometheus text exposition).</summary>
public static partial class PrometheusText
{
    /// <summary>The sum of the samples named <paramref name="name"/> that carry every one of <paramref name="labels"/>; null when none does.</summary>
    public static double? Sample(string metrics, string name, params (string Key, string Value)[] labels)
    {
        double? sum = null;
        foreach (var line in metrics.Split('\n'))
        {
            var match = SampleLine().Match(line);
            if (!match.Success || match.Groups["name"].Value != name)
            {
                continue;
            }
            var found = LabelPair().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
            if (labels.All(l => found.TryGetValue(l.Key, out var value) && value == l.Value))
            {
                sum = (sum ?? 0) + double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }

    /// <summary>Every value the label <paramref name="label"/> takes on samples of <paramref name="name"/>.</summary>
    public static HashSet<string> LabelValues(string metrics, string name, string label) =>
        metrics.Split('\n').Select(line => SampleLine().Match(line)).Where(m => m.Success && m.Groups["name"].Value == name)
            .SelectMany(m => LabelPair().Matches(m.Groups["labels"].Value)).Where(p => p.Groups[1].Value == label)
            .Select(p => p.Groups[2].Value).ToHashSet();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(""""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"""")]
    private static partial Regex LabelPair();
}
