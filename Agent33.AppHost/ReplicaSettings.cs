using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Agent33.AppHost;

/// <summary>
/// How many copies of each service a local run starts: <c>Replicas:&lt;resource&gt;</c> (e.g. <c>Replicas:gateway=3</c>)
/// for one service, <c>Replicas:Default</c> for every service without its own setting, and the command-line
/// shortcut <c>--replicas N</c>, which is <c>Replicas:Default=N</c>. Each count is a whole number from 1 to
/// <see cref="Max"/>; anything else stops the AppHost at start with an error naming the setting.
/// </summary>
/// <remarks>Pure: no Aspire types, so the parsing is unit-tested on its own (tests/Agent33.Deploy.Tests).</remarks>
public static class ReplicaSettings
{
    public const string Section = "Replicas";
    public const string DefaultKey = "Default";
    public const string Flag = "--replicas";
    public const int Max = 20;

    /// <summary>The services that may run as several copies; Postgres is one server and never does.</summary>
    public static readonly IReadOnlyList<string> Services = [ResourceNames.Gateway, ResourceNames.Learning, ResourceNames.Routing];

    /// <summary>
    /// Rewrites <c>--replicas N</c> and <c>--replicas=N</c> into <c>--Replicas:Default=N</c>, leaving every other
    /// argument as it is; a later argument wins over an earlier one, as for any setting on the command line.
    /// </summary>
    public static string[] ExpandArgs(string[] args)
    {
        var expanded = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (string.Equals(arg, Flag, StringComparison.OrdinalIgnoreCase))
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new ReplicaSettingsException($"{Flag} needs a number: {Flag} N, a whole number from 1 to {Max}.");
                }
                expanded.Add($"--{Section}:{DefaultKey}={args[++i]}");
            }
            else if (arg.StartsWith(Flag + "=", StringComparison.OrdinalIgnoreCase))
            {
                expanded.Add($"--{Section}:{DefaultKey}={arg[(Flag.Length + 1)..]}");
            }
            else
            {
                expanded.Add(arg);
            }
        }
        return [.. expanded];
    }

    /// <summary>The replica count of every service in <see cref="Services"/>; throws on any invalid or unknown setting.</summary>
    public static IReadOnlyDictionary<string, int> Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var errors = new List<string>();

        // A typo (Replicas:gatway) or a resource that must not scale (Replicas:postgres) would otherwise be ignored silently.
        foreach (var child in section.GetChildren())
        {
            if (!string.Equals(child.Key, DefaultKey, StringComparison.OrdinalIgnoreCase)
                && !Services.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add(child.Key.Equals(ResourceNames.Postgres, StringComparison.OrdinalIgnoreCase)
                    ? $"{Section}:{child.Key}: Postgres runs as one server and cannot be replicated."
                    : $"{Section}:{child.Key} names no service; replicated services: {string.Join(", ", Services)} (or {Section}:{DefaultKey} for all).");
            }
        }

        var fallback = Parse(section, DefaultKey, 1, errors);
        var counts = Services.ToDictionary(s => s, s => Parse(section, s, fallback, errors), StringComparer.Ordinal);
        if (errors.Count > 0)
        {
            throw new ReplicaSettingsException(string.Join(Environment.NewLine, errors));
        }
        return counts;
    }

    private static int Parse(IConfigurationSection section, string key, int fallback, List<string> errors)
    {
        var text = section[key];
        if (text is null)
        {
            return fallback;
        }
        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= Max)
        {
            return count;
        }
        var name = key == DefaultKey ? $"{Section}:{DefaultKey} ({Flag})" : $"{Section}:{key}";
        errors.Add($"{name} must be a whole number from 1 to {Max}, not '{text}'.");
        return fallback;
    }
}

/// <summary>An invalid replica setting: the AppHost stops before starting anything.</summary>
public sealed class ReplicaSettingsException(string message) : Exception(message);
