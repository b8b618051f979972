using System.IO.Pipelines;
using System.Text.Json;
using Agent33.Learning.Apis;
using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.Operations;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Pages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Spectre.Console;

namespace Agent33.Learning.LegacyMigration;

/// <summary>
/// The operator command line, in the service's own binary so it shares its configuration and validation:
/// <c>dotnet run --project services/Agent33.Learning -- backup|restore|migrate|status|export …</c>.
/// Exit codes: 0 done, 1 the input was refused (nothing changed), 2 usage, 3 the database is unreachable.
/// </summary>
public static class LearningCommandLine
{
    private static readonly string[] Commands = ["backup", "restore", "migrate", "status", "export"];

    public static bool IsCommand(string[] args) => args.Length > 0 && Commands.Contains(args[0]);

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args.Skip(1).Where(a => a.StartsWith("--", StringComparison.Ordinal) && a.Contains('=')).ToArray());
        if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(LearningPersistence.ConnectionName)))
        {
            await Console.Error.WriteLineAsync("No learning database is configured: set ConnectionStrings:learning " +
                                               "(--ConnectionStrings:learning=\"Host=…;Database=learning;Username=…;Password=…\", or the environment variable ConnectionStrings__learning).");
            return 2;
        }
        builder.Logging.ClearProviders();
        builder.Services.AddLearningServices(builder, withBackgroundWork: false);
        using var host = builder.Build();
        await using var scope = host.Services.CreateAsyncScope();
        var backupOperation = scope.ServiceProvider.GetRequiredService<BackupOperation>();
        var restoreOperation = scope.ServiceProvider.GetRequiredService<RestoreOperation>();
        var importOperation = scope.ServiceProvider.GetRequiredService<ImportOperation>();
        var db = scope.ServiceProvider.GetRequiredService<LearningDbContext>();
        var (positional, options) = Parse(args);
        bool Flag(string name) => args.Contains($"--{name}");
        string? Option(string name) => options.GetValueOrDefault(name);

        try
        {
            await db.Database.MigrateAsync();
            switch (args[0])
            {
                case "status":
                    await StatusAsync(db);
                    return 0;
                case "backup":
                    var backup = await AnsiConsole.Status().StartAsync("Backing up the learning state…", _ => backupOperation.CreateAsync("cli", default));
                    AnsiConsole.MarkupLine($"[green]Backup {backup.BackupId}[/]: {backup.SignalCount} signals, {backup.IntakeCount} intakes, {backup.SizeBytes:N0} bytes, sha256 {backup.ChecksumSha256}");
                    if (Option("output") is { } output)
                    {
                        await using var file = File.Create(output);
                        await scope.ServiceProvider.GetRequiredService<IBackupStore>().CopyToAsync(backup.BackupId, file, default);
                        AnsiConsole.MarkupLine($"Envelope written to {Markup.Escape(output)}");
                    }
                    return 0;
                case "restore" when Option("backup-id") is { } backupId:
                    var fromStore = await AnsiConsole.Status().StartAsync($"Restoring {backupId}…", _ => restoreOperation.RestoreBackupAsync(backupId, "cli", default));
                    if (fromStore is null)
                    {
                        AnsiConsole.MarkupLine($"[red]backup_not_found[/]: there is no backup {Markup.Escape(backupId)}");
                        return 1;
                    }
                    Report(fromStore);
                    return 0;
                case "restore" when positional is [var path]:
                    Report(await WithProgressAsync($"Restoring {Path.GetFileName(path)}", path, stream => restoreOperation.RestoreAsync(stream, "cli", default)));
                    return 0;
                case "migrate" when positional is [var legacyPath] && Option("on-corruption")?.Trim().ToLowerInvariant() is null or "reject" or "quarantine":
                    if (Flag("backup-first"))
                    {
                        // Always, as the reference backs up before it migrates: the backup is the rollback point, even of an empty state.
                        var safety = await backupOperation.CreateAsync("cli", default);
                        AnsiConsole.MarkupLine($"Safety backup {safety.BackupId} taken ({safety.SignalCount} signals)");
                    }
                    var quarantine = Option("on-corruption") is { } mode
                        ? mode.Trim().ToLowerInvariant() == "quarantine"
                        : host.Services.GetRequiredService<IOptions<LearningOptions>>().Value.Migration.Quarantines;
                    await using (var source = await LegacyStore.OpenAsync(legacyPath, default))
                    {
                        Report(await AnsiConsole.Status().StartAsync($"Importing {source.Kind} store {Path.GetFileName(legacyPath)}…",
                            _ => importOperation.ImportAsync(source, Flag("force"), quarantine, "cli", default)));
                    }
                    return 0;
                case "export":
                    return await ExportAsync(scope.ServiceProvider.GetRequiredService<SignalQueries>(), Option("tenant"), Option("since"), Option("until"), Option("output"));
                default:
                    AnsiConsole.WriteLine("Usage: backup [--output FILE] | restore FILE | restore --backup-id ID | " +
                                          "migrate LEGACY.json|LEGACY.sqlite3 [--force] [--backup-first] [--on-corruption reject|quarantine] | status | " +
                                          "export [--output FILE] [--tenant ID] [--since TIME] [--until TIME]");
                    return 2;
            }
        }
        catch (Exception ex) when (ex is BackupFormatException or LegacyStoreException)
        {
            var code = ex is BackupFormatException format ? format.Code : ((LegacyStoreException)ex).Code;
            AnsiConsole.MarkupLine($"[red]{code}[/]: {Markup.Escape(ex.Message)}");
            AnsiConsole.MarkupLine("Nothing was changed.");
            return 1;
        }
        catch (NpgsqlException ex)
        {
            AnsiConsole.MarkupLine($"[red]database_unavailable[/]: {Markup.Escape(ex.Message)} (check ConnectionStrings:learning)");
            return 3;
        }
    }

    /// <summary>The options that take a value, which is then not a positional argument (<c>--on-corruption reject</c>).</summary>
    private static readonly string[] ValuedOptions = ["output", "backup-id", "on-corruption", "tenant", "since", "until"];

    /// <summary>
    /// Positional arguments and valued options (<c>--name value</c> or <c>--name=value</c>) after the command; flags and
    /// configuration overrides (<c>--Section:Key=value</c>) are neither.
    /// </summary>
    private static (List<string> Positional, Dictionary<string, string> Options) Parse(string[] args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(arg);
                continue;
            }
            var name = arg[2..];
            if (name.Split('=', 2) is [var key, var value] && ValuedOptions.Contains(key))
            {
                options[key] = value;
            }
            else if (ValuedOptions.Contains(name) && i + 1 < args.Length)
            {
                options[name] = args[++i];
            }
        }
        return (positional, options);
    }

    /// <summary>
    /// Signals as NDJSON (the format of <c>GET /signals/export</c>) to a file or standard output: every tenant's unless
    /// <c>--tenant</c> names one, in the time range <c>--since</c> (inclusive) to <c>--until</c> (exclusive).
    /// </summary>
    private static async Task<int> ExportAsync(SignalQueries signals, string? tenant, string? since, string? until, string? output)
    {
        if (PageRequests.Parse(null, null, since, until, out var range) is { } invalid)
        {
            AnsiConsole.MarkupLine($"[red]invalid_time[/]: {Markup.Escape(invalid.ProblemDetails.Detail ?? "")}");
            return 2;
        }
        var json = ServiceDefaultsExtensions.ConfigureJson(new JsonSerializerOptions(JsonSerializerDefaults.Web));
        if (output is null)
        {
            await using var stdout = Console.OpenStandardOutput();
            await SignalExport.WriteAsync(signals, tenant ?? Tenants.All, null, null, range, PipeWriter.Create(stdout), json, default);
            return 0;
        }
        await using (var file = File.Create(output))
        {
            var count = await AnsiConsole.Status().StartAsync($"Exporting signals to {Markup.Escape(output)}…",
                _ => SignalExport.WriteAsync(signals, tenant ?? Tenants.All, null, null, range, PipeWriter.Create(file), json, default));
            AnsiConsole.MarkupLine($"[green]{count:N0} signals[/] written to {Markup.Escape(output)}");
        }
        return 0;
    }

    private static async Task<T> WithProgressAsync<T>(string label, string path, Func<Stream, Task<T>> run)
    {
        T result = default!;
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask(Markup.Escape(label), maxValue: new FileInfo(path).Length);
            await using var file = File.OpenRead(path);
            await using var counting = new ProgressStream(file, read => task.Increment(read));
            result = await run(counting);
            task.Value = task.MaxValue;
        });
        return result;
    }

    private static void Report(RestoreResult result) =>
        AnsiConsole.MarkupLine($"[green]{result.Status}[/]: {result.SignalCount} signals, {result.IntakeCount} intakes, " +
                               $"{result.SignalIntakeMapCount} links, {result.Quarantined} quarantined{(result.Message is null ? "" : " — " + Markup.Escape(result.Message))}");

    private static async Task StatusAsync(LearningDbContext db)
    {
        var table = new Table().AddColumns("what", "value");
        table.AddRow("migrations applied", string.Join(", ", await db.Database.GetAppliedMigrationsAsync()));
        table.AddRow("migrations pending", string.Join(", ", await db.Database.GetPendingMigrationsAsync()) is { Length: > 0 } p ? p : "none");
        table.AddRow("signals", (await db.Signals.CountAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("generated intakes", (await db.Intakes.CountAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("quarantined records", (await db.Quarantine.CountAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var last = await db.ImportRuns.AsNoTracking().OrderByDescending(r => r.Id).FirstOrDefaultAsync();
        table.AddRow("last import", last is null ? "never" : Markup.Escape($"{last.Status} {last.SourceKind}:{last.Source} at {last.StartedAt:u}"));
        AnsiConsole.Write(table);
    }

    /// <summary>Reports how many bytes were read, for the progress bar.</summary>
    private sealed class ProgressStream(Stream inner, Action<long> onRead) : Stream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            onRead(read);
            return read;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            onRead(read);
            return read;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
