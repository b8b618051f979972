using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Agent33.ServiceDefaults.Auth;

namespace Agent33.Gateway.Llm;

/// <summary>
/// One LLM call's state as it passes <see cref="LlmRouter"/>'s steps. <see cref="ParseAsync"/> is the first: the
/// caller's body read by its inbound API, with what the later steps need of it; they fill in the rest.
/// </summary>
internal sealed class LlmCall(Formats.IInboundApi api, JsonObject request, JsonArray messages, string? requested, string? effort, string budgetField, int? maxTokens, string tenant)
{
    public Formats.IInboundApi Api { get; } = api;
    public string ApiLabel => Api.Label;
    public JsonObject Request { get; } = request;
    public JsonArray Messages { get; } = messages;
    public string? Requested { get; } = requested;
    public string? Effort { get; } = effort;
    public string BudgetField { get; } = budgetField;
    public int? MaxTokens { get; } = maxTokens;
    public string Tenant { get; } = tenant;
    public string? Domain { get; init; }
    public bool Auto => Requested is null || Requested == "auto";
    public bool Embeddings => Api.Operation == Formats.LlmOperation.Embeddings;
    public bool Streaming => Request["stream"] is JsonValue s && s.TryGetValue<bool>(out var stream) && stream;
    public bool CallerWantsUsage { get; init; }
    public RoutingDecision? Decision { get; set; }
    public string Model { get; set; } = "";
    public List<ConnectorRuntime> Candidates { get; set; } = [];
    public long PromptTokens { get; set; }
    public Spend.Reservation? Reservation { get; set; }
    public DateOnly Day { get; set; }

    /// <summary>Why a connector's format could not carry the call (the first such), when one could not.</summary>
    public string? Untranslatable { get; set; }

    /// <summary>A bounded model label: the glob that served the model when it has wildcards, else the model.</summary>
    public string ModelLabel
    {
        get
        {
            var model = Model;
            var glob = Candidates[0].Options.Models.First(g => Glob.Matches(g, model, ignoreCase: true));
            return glob.Contains('*') || glob.Contains('?') ? glob : model;
        }
    }

    /// <summary>Parse: the caller's body as a chat completion request (its API's translation), its model, effort and token budget.</summary>
    public static async Task<LlmCall?> ParseAsync(HttpContext http, Formats.IInboundApi api)
    {
        JsonObject request;
        try
        {
            var body = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted) as JsonObject
                       ?? throw new JsonException("The body must be a JSON object.");
            request = await api.ReadRequestAsync(body, http);
        }
        catch (JsonException ex)
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, api.Errors, 400, "invalid_json", $"The request body is not valid JSON: {ex.Message}");
            return null;
        }
        catch (Formats.InvalidLlmRequestException ex)
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, api.Errors, 400, "invalid_request", ex.Message);
            return null;
        }
        var messages = request["messages"] as JsonArray ?? [];
        if (api.Operation == Formats.LlmOperation.Chat && messages.Count == 0)
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, api.Errors, 400, "invalid_request", "messages must be a non-empty array.");
            return null;
        }
        var requested = request["model"] is JsonValue m && m.TryGetValue<string>(out var name) ? name : null;
        if (request["model"] is not null and not JsonValue || (request["model"] is JsonValue && requested is null))
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, api.Errors, 400, "invalid_request", "model must be a string.");
            return null;
        }
        if (requested is not null && !ModelNames.IsValid(requested))
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, api.Errors, 400, "invalid_request",
                $"model must be printable, at most {ModelNames.MaxLength} characters, without whitespace or control characters.");
            return null;
        }
        var effort = request["reasoning_effort"] is JsonValue e && e.TryGetValue<string>(out var asked) && asked is "low" or "medium" or "high" ? asked : null;
        var budgetField = request.ContainsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        var maxTokens = request[budgetField] is JsonValue t && t.TryGetValue<int>(out var tokens) && tokens > 0 ? tokens : (int?)null;
        return new LlmCall(api, request, messages, requested, effort, budgetField, maxTokens, ApiCaller.From(http).Tenant)
        {
            Domain = http.Request.Headers["X-Agent33-Domain"].FirstOrDefault(),
            CallerWantsUsage = AsksForUsage(request),
        };
    }

    private static bool AsksForUsage(JsonObject request) =>
        request["stream_options"]?["include_usage"] is JsonValue u && u.TryGetValue<bool>(out var include) && include;
}
