using System.Globalization;
using System.Text.Json;
using Agent33.Learning.Backup;
using Agent33.Learning.Domain;
using Agent33.Learning.LegacyMigration;
using Agent33.Learning.Operations;
using Agent33.Learning.Persistence;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Pages;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Agent33.Learning.Apis;

/// <summary>Backup, restore, legacy migration and quarantine: admin only.</summary>
public static class OperationsApi
{
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(LearningSignalsApi.BasePath).WithTags("Backup, restore and migration").RequireAuthorization(Scopes.Admin);

        group.MapPost("/backups", async (HttpContext http, BackupOperation operation, CancellationToken ct) =>
            {
                var backup = await operation.CreateAsync(Actor(http), ct);
                return TypedResults.Created($"{LearningSignalsApi.BasePath}/backups/{backup.BackupId}", backup);
            })
            .WithSummary("Back up the whole learning state into the server-side backup store (the reference's envelope).");

        group.MapGet("/backups", async (IBackupStore store, CancellationToken ct) => TypedResults.Ok(await store.ListAsync(ct)))
            .WithSummary("Stored backups, newest first.");

        group.MapGet("/backups/{backupId}", async Task<Results<EmptyHttpResult, ProblemHttpResult>> (string backupId, HttpContext http, IBackupStore store, CancellationToken ct) =>
            {
                if (await store.FindAsync(backupId, ct) is not { } info)
                {
                    return NotFound(backupId);
                }
                http.Response.ContentType = "application/json";
                http.Response.ContentLength = info.SizeBytes;
                http.Response.Headers.ContentDisposition = $"attachment; filename=\"{info.BackupId}.json\"";
                await store.CopyToAsync(backupId, http.Response.Body, ct);
                return TypedResults.Empty;
            })
            .WithSummary("Download a backup envelope (streamed).");

        group.MapDelete("/backups/{backupId}", async Task<Results<NoContent, ProblemHttpResult>> (string backupId, IBackupStore store, CancellationToken ct) =>
                await store.DeleteAsync(backupId, ct) ? TypedResults.NoContent() : NotFound(backupId))
            .WithSummary("Delete a stored backup.");

        group.MapPost("/restore", RestoreAsync)
            .WithSummary("Replace the whole state from an uploaded envelope, a legacy raw state, or {\"backup_id\": ...}; all or nothing.");

        group.MapPost("/migrations/import", ImportAsync)
            .WithSummary("Import the reference engine's legacy JSON state (body); idempotent, never overwrites unless force=true.");

        group.MapGet("/migrations/status", async (LearningDbContext db, CancellationToken ct) => TypedResults.Ok(new
            {
                applied = await db.Database.GetAppliedMigrationsAsync(ct),
                pending = await db.Database.GetPendingMigrationsAsync(ct),
                last_import = await db.ImportRuns.AsNoTracking().OrderByDescending(r => r.Id).FirstOrDefaultAsync(ct),
            }))
            .WithSummary("Schema migrations applied and pending, and the last legacy import.");

        group.MapGet("/quarantine", QuarantineAsync)
            .WithSummary("Records and payloads that could not be imported: their beginning (up to 64 KiB), SHA-256 and size, reason and source; " +
                         "newest first, filtered by time (since, until), paged by Link: rel=\"next\".");

        group.MapDelete("/quarantine/{id}", async Task<Results<NoContent, ProblemHttpResult>> (string id, HttpContext http, PurgeOperation purge, CancellationToken ct) =>
                long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var key)
                && await purge.PurgeAsync(key, Actor(http), ct)
                    ? TypedResults.NoContent()
                    : ApiProblem.NotFound("quarantine_not_found", $"There is no quarantined record '{id}'."))
            .WithSummary("Purge a quarantined record once it has been dealt with (audited).");
        return app;
    }

    private static async Task<Results<Ok<RestoreResult>, ProblemHttpResult>> RestoreAsync(
        HttpContext http, RestoreOperation restore, IOptions<LearningOptions> options, CancellationToken ct)
    {
        // The upload is on local disk before anything is verified or locked: a slow client holds up no writer.
        var (body, tooLarge) = await Uploads.SpoolAsync(http, options.Value.Backups.MaxRestoreBytes, "Learning:Backups:MaxRestoreBytes", ct);
        if (tooLarge is not null)
        {
            return tooLarge;
        }
        await using var spooled = body!;
        try
        {
            // A body of a few bytes may be {"backup_id": "..."}; anything else is an envelope or a raw state.
            if (spooled.Length < 4096 && await TryBackupIdAsync(spooled, ct) is { } backupId)
            {
                return await restore.RestoreBackupAsync(backupId, Actor(http), ct) is { } restored ? TypedResults.Ok(restored) : NotFound(backupId);
            }
            return TypedResults.Ok(await restore.RestoreAsync(spooled, Actor(http), ct));
        }
        catch (BackupFormatException ex)
        {
            return ApiProblem.BadRequest(ex.Code, ex.Message);
        }
    }

    private static async Task<Results<Ok<RestoreResult>, ProblemHttpResult>> ImportAsync(
        HttpContext http, ImportOperation import, IOptions<LearningOptions> options, bool? force, string? on_corruption, CancellationToken ct)
    {
        if (on_corruption is not (null or "reject" or "quarantine"))
        {
            return ApiProblem.BadRequest("invalid_request", "on_corruption must be reject or quarantine.");
        }
        var quarantine = on_corruption is null ? options.Value.Migration.Quarantines : on_corruption == "quarantine";
        var (body, tooLarge) = await Uploads.SpoolAsync(http, options.Value.Migration.MaxImportBytes, "Learning:Migration:MaxImportBytes", ct);
        if (tooLarge is not null)
        {
            return tooLarge;
        }
        await using var source = new LegacySource("json", "upload", body!);
        try
        {
            return TypedResults.Ok(await import.ImportAsync(source, force ?? false, quarantine, Actor(http), ct));
        }
        catch (BackupFormatException ex)
        {
            return ApiProblem.BadRequest(ex.Code, $"{ex.Message} The payload was quarantined (GET /quarantine).");
        }
    }

    private static async Task<string?> TryBackupIdAsync(Stream small, CancellationToken ct)
    {
        var head = new byte[small.Length];
        await small.ReadExactlyAsync(head, ct);
        small.Position = 0;
        try
        {
            using var document = JsonDocument.Parse(head);
            return document.RootElement is { ValueKind: JsonValueKind.Object } root
                   && root.EnumerateObject().Count() == 1
                   && root.TryGetProperty("backup_id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null; // not a complete small document: the restore's reader will report it
        }
    }

    private static ProblemHttpResult NotFound(string backupId) =>
        ApiProblem.NotFound(BackupEnvelope.NotFound, $"There is no backup '{backupId}'.");

    private static async Task<Results<Ok<List<QuarantinedRecord>>, ProblemHttpResult>> QuarantineAsync(
        HttpContext http, LearningDbContext db, string? limit, string? after, string? since, string? until, CancellationToken ct)
    {
        if (PageRequests.Parse(limit, after, since, until, out var page) is { } badPage)
        {
            return badPage;
        }
        var query = db.Quarantine.AsNoTracking();
        if (page.Since is { } from)
        {
            query = query.Where(q => q.QuarantinedAt >= from);
        }
        if (page.Until is { } to)
        {
            query = query.Where(q => q.QuarantinedAt < to);
        }
        if (page.After is { } position)
        {
            // Quarantine ids are assigned in time order, so the id alone is the keyset.
            if (!long.TryParse(position.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                return PageRequests.InvalidCursor();
            }
            query = query.Where(q => q.Id < id);
        }
        var records = await query.OrderByDescending(q => q.Id)
            .TakePageAsync(page.Limit, q => new PageCursor(q.QuarantinedAt, q.Id.ToString(CultureInfo.InvariantCulture)), q => q, ct);
        PageRequests.LinkNext(http, records.Next);
        return TypedResults.Ok(records.Items);
    }

    private static string Actor(HttpContext http) =>
        $"api-key:{http.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value ?? "unknown"}";
}
