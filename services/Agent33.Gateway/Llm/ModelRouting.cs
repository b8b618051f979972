using System.Text.Json.Nodes;
using Agent33.Gateway.Boundary;
using Agent33.Gateway.Catalog;
using Microsoft.Extensions.Options;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The route step of an LLM call: which model serves it (for <c>auto</c>, the routing service's decision through
/// <see cref="EffortRoutingClient"/>; an explicit model is honoured) with what completion budget, and which <c>llm</c>
/// connectors serve that model.
/// </summary>
internal sealed class ModelRouting(ConnectorRegistry registry, EffortRoutingClient routing, IOptions<LlmOptions> options)
{
    /// <summary>Route: the routing service decides effort, model and budget (an explicit model is honoured); the connectors serving the model, in configuration order.</summary>
    public async Task<bool> RouteAsync(HttpContext http, LlmCall call)
    {
        if (call.Embeddings)
        {
            // Embeddings have no effort to route by: auto is the configured embedding model.
            call.Model = call.Auto ? options.Value.EmbeddingModel : call.Requested!;
            call.Request["model"] = call.Model;
            return await FindCandidatesAsync(http, call);
        }
        call.Decision = call.Auto ? await DecideAsync(call, http.RequestAborted) : null; // a failure is counted by the routing client, with its reason
        call.Model = call.Auto ? call.Decision?.Model ?? options.Value.DefaultModel : call.Requested!;
        call.Request["model"] = call.Model;
        // The call's completion budget: the decision's, the caller's, else Llm:DefaultMaxTokens, always sent upstream,
        // so that no answer can be longer than what its reservation holds.
        call.Request[call.BudgetField] = (call.Auto ? call.Decision?.MaxTokens : null) ?? call.MaxTokens ?? options.Value.DefaultMaxTokens;
        if (call.Streaming)
        {
            call.Request["stream_options"] = new JsonObject { ["include_usage"] = true };
        }
        return await FindCandidatesAsync(http, call);
    }

    /// <summary>Tells routing the decision an explicit model's call would have had, once the call was forwarded.</summary>
    public void RecordExplicitModel(LlmCall call)
    {
        if (!call.Auto && !call.Embeddings)
        {
            // An explicit model never waits for routing, and its decision is recorded there once the answer is complete,
            // so that call shares neither the caller's time to first token nor the cores the answer is relayed on.
            _ = DecideAsync(call, CancellationToken.None);
        }
    }

    private async Task<bool> FindCandidatesAsync(HttpContext http, LlmCall call)
    {
        call.Candidates = [.. registry.All.Where(c => c.Options.Kind == "llm" && c.Options.Models.Any(glob => Glob.Matches(glob, call.Model, ignoreCase: true)))];
        if (call.Candidates.Count == 0)
        {
            await OutcomeWriter.ReplaceWithErrorAsync(http, call.Api.Errors, 404, "model_not_served", $"No llm connector serves model '{call.Model}'.");
            return false;
        }
        return true;
    }

    private Task<RoutingDecision?> DecideAsync(LlmCall call, CancellationToken cancellationToken) =>
        routing.DecideAsync(call.Tenant, call.Domain, call.Effort, call.Messages, call.MaxTokens ?? options.Value.DefaultMaxTokens,
            call.Auto ? null : call.Requested, options.Value.DefaultModel, cancellationToken);
}
