using System.Globalization;
using System.Text.Json;
using Agent33.Contracts.Learning;
using Agent33.Learning.Domain;
using Agent33.ServiceDefaults.Auth;
using Agent33.ServiceDefaults.Pages;
using Agent33.ServiceDefaults.Problems;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Agent33.Learning.Apis;

/// <summary>The learning-signal routes, tenant-scoped by the caller's API key.</summary>
public static class LearningSignalsApi
{
    public const string BasePath = "/v1/improvements/learning";
    private const int MaxWindowDays = 3650;
    private const int MaxTarget = 1000;

    public static IEndpointRouteBuilder MapLearningSignalsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(BasePath).WithTags("Learning signals");

        group.MapPost("/signals", RecordAsync).RequireAuthorization(Scopes.Write)
            .WithSummary("Record a learning signal: scored, enriched, and merged into a recent duplicate (200) or stored new (201).");
        group.MapGet("/signals", ListAsync).RequireAuthorization(Scopes.Read)
            .WithSummary("Signals newest first, filtered by signal_type (or type), severity, tenant and time (since, until); paged by Link: rel=\"next\".");
        group.MapGet("/signals/export", ExportAsync).RequireAuthorization(Scopes.Read).RequireRateLimiting(SignalExport.ConcurrencyPolicy)
            .WithSummary("Every matching signal as NDJSON (one per line, newest first), streamed in constant memory; filters as GET /signals; two at once per key.")
            .Produces(StatusCodes.Status200OK, contentType: SignalExport.ContentType);
        group.MapGet("/summary", SummaryAsync).RequireAuthorization(Scopes.Read)
            .WithSummary("Counts by type, severity and tenant, quality, and the trend against the previous window; optionally generates intakes.");
        group.MapGet("/trends", TrendsAsync).RequireAuthorization(Scopes.Read)
            .WithSummary("Dedupe-aware trends by signal_type or severity, current window against the previous one.");
        group.MapGet("/calibration", CalibrationAsync).RequireAuthorization(Scopes.Read)
            .WithSummary("Recommended auto-intake and retention settings from the signals of a window.");
        group.MapGet("/intakes", IntakesAsync).RequireAuthorization(Scopes.Read)
            .WithSummary("Research intakes generated from signals, newest first, filtered by time (since, until); paged by Link: rel=\"next\".");
        return app;
    }

    private static async Task<Results<Created<SignalView>, Ok<SignalView>, ProblemHttpResult>> RecordAsync(
        SignalRequest body, HttpContext http, SignalRecorder recorder, IOptions<LearningOptions> options, CancellationToken ct)
    {
        var tenant = ResolveTenant(ApiCaller.From(http), body.TenantId);
        if (tenant.Problem is { } denied)
        {
            return denied;
        }
        if (Validate(body) is { } invalid)
        {
            return invalid;
        }
        var input = new SignalInput(body.SignalType ?? body.Type ?? "feedback", body.Severity ?? "medium", body.Summary!,
            body.Details ?? "", body.Source ?? "", body.Context ?? []);
        SignalView signal;
        bool created;
        try
        {
            (signal, created) = await recorder.RecordAsync(input, tenant.Tenant!, ct);
        }
        catch (RestoreInProgressException)
        {
            // Not an outage (no database_unavailable alert): the state is being swapped, and will be back shortly.
            http.Response.Headers.RetryAfter = options.Value.RestoreWaitSeconds.ToString(CultureInfo.InvariantCulture);
            return ApiProblem.ServiceUnavailable("restore_in_progress",
                "The learning state is being replaced by a restore or import; the signal was not recorded. Retry after the time in Retry-After.");
        }
        return created
            ? TypedResults.Created($"{BasePath}/signals/{signal.SignalId}", signal)
            : TypedResults.Ok(signal);
    }

    private static ProblemHttpResult? Validate(SignalRequest body)
    {
        var type = body.SignalType ?? body.Type;
        if (type is not null && !SignalTypes.IsValid(type))
        {
            return ApiProblem.BadRequest("invalid_signal_type", $"signal_type must be one of {string.Join(", ", SignalTypes.Names)}.");
        }
        if (body.Severity is not null && !Severities.TryParse(body.Severity, out _))
        {
            return ApiProblem.BadRequest("invalid_severity", $"severity must be one of {string.Join(", ", Severities.Names)}.");
        }
        // Required, but may be empty, as in the reference (it scores an empty summary low: summary_too_short).
        if (body.Summary is null)
        {
            return ApiProblem.BadRequest("invalid_signal", "summary is required.");
        }
        if (body.Summary.Length > SignalLimits.SummaryChars || body.Details?.Length > SignalLimits.DetailsChars || body.Source?.Length > SignalLimits.SourceChars)
        {
            return ApiProblem.BadRequest("invalid_signal", SignalLimits.TooLong);
        }
        if (body.Context is { } context && (context.Values.Any(v => v is null) || SignalLimits.CheckMap("context", context) is not null))
        {
            return ApiProblem.BadRequest("invalid_signal", SignalLimits.ContextRule);
        }
        string?[] texts = [body.Summary, body.Details, body.Source, .. body.Context?.SelectMany(kv => new[] { kv.Key, kv.Value }) ?? []];
        if (texts.Any(text => text?.Contains('\0') == true))
        {
            return ApiProblem.BadRequest("invalid_signal", "Text may not hold the NUL character (U+0000).");
        }
        return null;
    }

    private static async Task<Results<Ok<List<SignalView>>, ProblemHttpResult>> ListAsync(
        HttpContext http, SignalQueries signals, string? signal_type, string? type, string? severity, string? tenant_id,
        string? limit, string? after, string? since, string? until, CancellationToken ct)
    {
        if (SignalQuery(http, signal_type ?? type, severity, tenant_id, limit, after, since, until, out var page, out var tenant) is { } invalid)
        {
            return invalid;
        }
        var found = await signals.ListAsync(tenant, signal_type ?? type, severity, page, ct);
        PageRequests.LinkNext(http, found.Next);
        return TypedResults.Ok(found.Items);
    }

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportAsync(
        HttpContext http, SignalQueries signals, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json,
        string? signal_type, string? type, string? severity, string? tenant_id, string? since, string? until, CancellationToken ct)
    {
        if (SignalQuery(http, signal_type ?? type, severity, tenant_id, null, null, since, until, out var range, out var tenant) is { } invalid)
        {
            return invalid;
        }
        http.Response.ContentType = SignalExport.ContentType;
        await SignalExport.WriteAsync(signals, tenant, signal_type ?? type, severity, range, http.Response.BodyWriter, json.Value.SerializerOptions, ct);
        return TypedResults.Empty;
    }

    /// <summary>What <c>GET /signals</c> and its export share: a known type and severity, the page, and a tenant the key may read.</summary>
    private static ProblemHttpResult? SignalQuery(HttpContext http, string? kind, string? severity, string? tenantId,
        string? limit, string? after, string? since, string? until, out PageQuery page, out string tenant)
    {
        tenant = "";
        page = new PageQuery(0);
        if (kind is not null && !SignalTypes.IsValid(kind))
        {
            return ApiProblem.BadRequest("invalid_signal_type", $"signal_type must be one of {string.Join(", ", SignalTypes.Names)}.");
        }
        if (severity is not null && !Severities.TryParse(severity, out _))
        {
            return ApiProblem.BadRequest("invalid_severity", $"severity must be one of {string.Join(", ", Severities.Names)}.");
        }
        return PageRequests.Parse(limit, after, since, until, out page) ?? Tenant(http, tenantId, out tenant);
    }

    public sealed record SummaryResponse(LearningSummary Summary, List<JsonElement> GeneratedIntakes);

    private static async Task<Results<Ok<SummaryResponse>, ProblemHttpResult>> SummaryAsync(
        HttpContext http, SignalReports reports, Intakes intakes, IOptions<LearningOptions> options,
        string? limit, string? generate_intakes, string? tenant_id, string? window_days, CancellationToken ct)
    {
        if (ParseInt(limit, "limit", 50, 1, 10_000, "invalid_limit", out var count) is { } badLimit)
        {
            return badLimit;
        }
        int? window = null;
        if (window_days is not null)
        {
            if (ParseInt(window_days, "window_days", 0, 1, MaxWindowDays, "invalid_window", out var days) is { } badWindow)
            {
                return badWindow;
            }
            window = days;
        }
        if (!bool.TryParse(generate_intakes ?? "false", out var generate))
        {
            return ApiProblem.BadRequest("invalid_request", "generate_intakes must be true or false.");
        }
        if (Tenant(http, tenant_id, out var tenant) is { } denied)
        {
            return denied;
        }
        // Generating intakes changes state: it needs a write key, and the operator's auto-intake setting.
        List<JsonElement> generated = [];
        if (generate && options.Value.AutoIntake.Enabled)
        {
            if (!ApiCaller.From(http).Has(Scopes.Write))
            {
                return ApiProblem.Forbidden("forbidden", "generate_intakes=true needs a key with the write scope.");
            }
            generated = await intakes.GenerateAsync(tenant, ct);
        }
        return TypedResults.Ok(new SummaryResponse(await reports.SummarizeAsync(tenant, count, window, ct), generated));
    }

    private static async Task<Results<Ok<TrendReport>, ProblemHttpResult>> TrendsAsync(
        HttpContext http, SignalReports reports, string? window_days, string? dimension, string? tenant_id, CancellationToken ct)
    {
        if (ParseInt(window_days, "window_days", 7, 1, MaxWindowDays, "invalid_window", out var days) is { } badWindow)
        {
            return badWindow;
        }
        var by = dimension ?? "signal_type";
        if (by is not ("signal_type" or "severity"))
        {
            return ApiProblem.BadRequest("invalid_dimension", "dimension must be signal_type or severity.");
        }
        if (Tenant(http, tenant_id, out var tenant) is { } denied)
        {
            return denied;
        }
        return TypedResults.Ok(await reports.TrendsAsync(tenant, days, by, ct));
    }

    private static async Task<Results<Ok<CalibrationReport>, ProblemHttpResult>> CalibrationAsync(
        HttpContext http, SignalReports reports, IOptions<LearningOptions> options,
        string? window_days, string? target_auto_intakes_per_window, string? tenant_id, CancellationToken ct)
    {
        if (ParseInt(window_days, "window_days", 30, 1, MaxWindowDays, "invalid_window", out var days) is { } badWindow)
        {
            return badWindow;
        }
        // Unnamed, the target is what auto-intake takes per run (Learning:AutoIntake:MaxItems), as in the reference.
        if (ParseInt(target_auto_intakes_per_window, "target_auto_intakes_per_window", options.Value.AutoIntake.MaxItems, 1, MaxTarget, "invalid_target", out var target) is { } badTarget)
        {
            return badTarget;
        }
        if (Tenant(http, tenant_id, out var tenant) is { } denied)
        {
            return denied;
        }
        return TypedResults.Ok(await reports.CalibrateAsync(tenant, days, target, ct));
    }

    private static async Task<Results<Ok<List<JsonElement>>, ProblemHttpResult>> IntakesAsync(
        HttpContext http, Intakes intakes, string? tenant_id, string? limit, string? after, string? since, string? until, CancellationToken ct)
    {
        if (PageRequests.Parse(limit, after, since, until, out var page) is { } badPage)
        {
            return badPage;
        }
        if (Tenant(http, tenant_id, out var tenant) is { } denied)
        {
            return denied;
        }
        var found = await intakes.ListAsync(tenant, page, ct);
        PageRequests.LinkNext(http, found.Next);
        return TypedResults.Ok(found.Items);
    }

    /// <summary>The tenant to act on; admins may pass <c>*</c> for every tenant.</summary>
    private static ProblemHttpResult? Tenant(HttpContext http, string? requested, out string tenant)
    {
        var caller = ApiCaller.From(http);
        if (requested?.Trim() == Tenants.All)
        {
            tenant = Tenants.All;
            return caller.IsAdmin ? null : ApiProblem.Forbidden("cross_tenant_denied", "Only an admin key may read every tenant (tenant_id=*).");
        }
        var resolution = ResolveTenant(caller, requested);
        tenant = resolution.Tenant ?? "";
        return resolution.Problem;
    }

    /// <summary>The tenant the reference's request model names when the caller names none.</summary>
    public const string ReferenceDefaultTenant = "default";

    /// <summary>
    /// As <see cref="ApiCaller.ResolveTenant"/>, except that <c>tenant_id: "default"</c> from an ordinary key means the
    /// key's own tenant, as in the reference engine, whose clients send that default whether or not they mean it. An
    /// admin key, or a service key acting for its callers, names the tenant called "default" with it.
    /// </summary>
    private static TenantResolution ResolveTenant(ApiCaller caller, string? requested) =>
        caller.ResolveTenant(requested?.Trim() == ReferenceDefaultTenant && !caller.IsAdmin && !caller.Scopes.Contains("service") ? null : requested);

    internal static ProblemHttpResult? ParseInt(string? text, string name, int fallback, int min, int max, string code, out int value) =>
        PageRequests.ParseInt(text, name, fallback, min, max, code, out value);
}
