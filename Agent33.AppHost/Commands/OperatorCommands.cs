using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Agent33.AppHost.Commands;

/// <summary>
/// Dashboard commands that operate the running services through their admin APIs, with the AppHost's
/// admin key: back up and restore the learning state, reset open circuits, show firing alerts.
/// </summary>
public static class OperatorCommands
{
    private const string Learning = "/v1/improvements/learning";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(100); // a large backup or restore takes a while

    public static IResourceBuilder<ProjectResource> WithLearningCommands(this IResourceBuilder<ProjectResource> learning, ApiKeys keys) =>
        learning
            .WithCommand("backup-now", "Back up now", context => CallAsync(learning, keys, context, async (client, ct) =>
            {
                using var response = await client.PostAsync($"{Learning}/backups", content: null, ct);
                var body = await ReadAsync(response, ct);
                return $"Backup {body.GetProperty("backup_id").GetString()}: {body.GetProperty("signal_count").GetInt32()} signals, " +
                       $"{body.GetProperty("intake_count").GetInt32()} intakes, {body.GetProperty("size_bytes").GetInt64()} bytes.";
            }), new CommandOptions
            {
                Description = "Stores a backup of the learning state in the service's backup store.",
                IconName = "Save",
                UpdateState = WhenHealthy,
            })
            .WithCommand("restore-latest", "Restore latest backup", context => CallAsync(learning, keys, context, async (client, ct) =>
            {
                using var listed = await client.GetAsync($"{Learning}/backups", ct);
                var backups = await ReadAsync(listed, ct);
                var latest = backups.EnumerateArray()
                    .OrderByDescending(b => b.GetProperty("created_at").GetDateTimeOffset())
                    .Select(b => b.GetProperty("backup_id").GetString())
                    .FirstOrDefault() ?? throw new InvalidOperationException("There is no backup to restore.");
                using var restored = await client.PostAsJsonAsync($"{Learning}/restore", new Dictionary<string, string> { ["backup_id"] = latest! }, ct);
                var body = await ReadAsync(restored, ct);
                return $"Restored {latest}: {body.GetProperty("signal_count").GetInt32()} signals, {body.GetProperty("intake_count").GetInt32()} intakes.";
            }), new CommandOptions
            {
                Description = "Replaces the whole learning state with the newest stored backup.",
                ConfirmationMessage = "Replace the current learning state with the latest backup? Signals recorded since that backup are lost.",
                IconName = "ArrowUndo",
                UpdateState = WhenHealthy,
            });

#pragma warning disable ASPIREINTERACTION001 // command arguments are a preview API of the dashboard
    public static IResourceBuilder<ProjectResource> WithGatewayCommands(this IResourceBuilder<ProjectResource> gateway, ApiKeys keys) =>
        gateway.WithCommand("reset-circuits", "Reset circuit", context => CallAsync(gateway, keys, context, async (client, ct) =>
        {
            var requested = context.Arguments?.GetString("connector");
            using var listed = await client.GetAsync("/v1/connectors", ct);
            var open = (await ReadAsync(listed, ct)).EnumerateArray()
                .Where(c => c.GetProperty("circuit").GetProperty("state").GetString() != "closed")
                .Select(c => c.GetProperty("connector_id").GetString()!)
                .Where(id => string.IsNullOrWhiteSpace(requested) || id == requested.Trim())
                .ToList();
            if (open.Count == 0)
            {
                return string.IsNullOrWhiteSpace(requested) ? "No circuit is open." : $"The circuit of '{requested}' is not open.";
            }
            foreach (var id in open)
            {
                using var reset = await client.PostAsync($"/v1/connectors/{Uri.EscapeDataString(id)}/circuit/reset", content: null, ct);
                await ReadAsync(reset, ct);
            }
            return $"Reset {string.Join(", ", open)}.";
        }), new CommandOptions
        {
            Description = "Closes the circuit breaker of one connector, or of every connector whose circuit is open or half-open.",
            Arguments =
            [
                new InteractionInput
                {
                    Name = "connector",
                    Label = "Connector id",
                    Description = "For example mcp:tools; leave empty to reset every open circuit.",
                    InputType = InputType.Text,
                    Required = false,
                },
            ],
            IconName = "ArrowReset",
            UpdateState = WhenHealthy,
        });
#pragma warning restore ASPIREINTERACTION001

    public static IResourceBuilder<ProjectResource> WithRoutingCommands(this IResourceBuilder<ProjectResource> routing, ApiKeys keys) =>
        routing.WithCommand("show-alerts", "Show active alerts", context => CallAsync(routing, keys, context, async (client, ct) =>
        {
            using var response = await client.GetAsync("/v1/dashboard/alerts", ct);
            var alerts = (await ReadAsync(response, ct)).EnumerateArray().ToList();
            return alerts.Count == 0
                ? "No alert is firing."
                : string.Join("; ", alerts.Select(a =>
                    $"{a.GetProperty("rule_name").GetString()}: {a.GetProperty("metric").GetString()} = {a.GetProperty("current_value")} (threshold {a.GetProperty("threshold")})"));
        }), new CommandOptions
        {
            Description = "Lists the routing alert rules that are firing now.",
            IconName = "Alert",
            UpdateState = WhenHealthy,
        });

    private static ResourceCommandState WhenHealthy(UpdateCommandStateContext context) =>
        context.ResourceSnapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy
            ? ResourceCommandState.Enabled
            : ResourceCommandState.Disabled;

    private static async Task<ExecuteCommandResult> CallAsync(
        IResourceBuilder<ProjectResource> resource,
        ApiKeys keys,
        ExecuteCommandContext context,
        Func<HttpClient, CancellationToken, Task<string>> call)
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(InstanceUrl(resource, context)), Timeout = Timeout };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await keys.Admin.Resource.GetValueAsync(context.CancellationToken));
            var message = await call(client, context.CancellationToken);
            context.Logger.LogInformation("Command on {Resource}: {Message}", context.ResourceName, message);
            return CommandResults.Success(message, message, CommandResultFormat.Text);
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or JsonException or TaskCanceledException or KeyNotFoundException)
        {
            context.Logger.LogWarning("Command on {Resource} failed: {Error}", context.ResourceName, ex.Message);
            return CommandResults.Failure(ex.Message);
        }
    }

    /// <summary>
    /// The address of the one process the command was run on. With replicas (<c>--replicas N</c>) the resource's
    /// endpoint is Aspire's proxy, which hands each connection to any replica; circuits and routing alerts are held
    /// per replica, so a command run on one replica in the dashboard must reach that replica. Aspire lists each
    /// instance's own address as its internal "http target port" URL; the shared endpoint is the fallback.
    /// </summary>
    private static string InstanceUrl(IResourceBuilder<ProjectResource> resource, ExecuteCommandContext context)
    {
        var notifications = context.Services.GetRequiredService<ResourceNotificationService>();
        return notifications.TryGetCurrentState(context.ResourceName, out var state)
               && state.Snapshot.Urls.FirstOrDefault(u => u.Name == "http target port") is { Url: { Length: > 0 } own }
            ? own
            : resource.GetEndpoint("http").Url;
    }

    /// <summary>The JSON body of a successful answer; a problem+json answer becomes its detail and code.</summary>
    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var detail = text;
            try
            {
                using var problem = JsonDocument.Parse(text);
                detail = $"{problem.RootElement.GetProperty("detail").GetString()} ({problem.RootElement.GetProperty("code").GetString()})";
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // not a problem document: report the raw text
            }
            throw new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
        }
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
