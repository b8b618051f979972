using System.Globalization;
using System.Text.RegularExpressions;

namespace Agent33.Learning.Backup;

/// <summary>
/// <c>Learning:Backups:Schedule</c> (an interval, <c>d.hh:mm:ss</c>: <c>1.00:00:00</c> is daily) and
/// <c>Learning:Backups:Keep</c> (how many backups to keep, 7 unless set). No schedule, no scheduled backups:
/// the default, so a development run takes none; the generated Kubernetes manifests set daily, keep 7.
/// </summary>
public sealed partial record BackupSchedule(TimeSpan Interval, int Keep)
{
    public const string ScheduleKey = "Learning:Backups:Schedule";
    public const string KeepKey = "Learning:Backups:Keep";
    public const int DefaultKeep = 7;
    public static readonly TimeSpan MinimumInterval = TimeSpan.FromMinutes(1);

    /// <summary>The configured schedule; null when none is set. A bad value stops the service with a message naming the setting.</summary>
    public static BackupSchedule? From(IConfiguration configuration)
    {
        if (configuration[ScheduleKey] is not { Length: > 0 } text)
        {
            return null;
        }
        if (HoursAsDays().IsMatch(text.Trim()))
        {
            throw new InvalidOperationException($"{ScheduleKey} '{text}' would read as {text.Split(':')[0]} days (.NET's d.hh:mm:ss); write 1.00:00:00 for one day.");
        }
        if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var interval) || interval < MinimumInterval)
        {
            throw new InvalidOperationException($"{ScheduleKey} must be an interval of at least {MinimumInterval} (d.hh:mm:ss, e.g. 1.00:00:00 for daily), not '{text}'.");
        }
        var keep = DefaultKeep;
        if (configuration[KeepKey] is { Length: > 0 } keepText
            && (!int.TryParse(keepText, NumberStyles.None, CultureInfo.InvariantCulture, out keep) || keep < 1))
        {
            throw new InvalidOperationException($"{KeepKey} must be a whole number of backups, at least 1, not '{keepText}'.");
        }
        return new BackupSchedule(interval, keep);
    }

    /// <summary>"24:00:00" is 24 days to TimeSpan.Parse, not a day.</summary>
    [GeneratedRegex(@"^(2[4-9]|[3-9]\d|\d{3,}):\d{2}(:\d{2}(\.\d+)?)?$")]
    private static partial Regex HoursAsDays();
}
