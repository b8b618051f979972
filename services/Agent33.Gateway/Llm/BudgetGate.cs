using Agent33.Gateway.Boundary;

namespace Agent33.Gateway.Llm;

/// <summary>
/// The budget step of an LLM call: its worst case reserved against the tenant's day (<see cref="Spend.SpendReservations"/>)
/// before anything is forwarded, or the call refused in its inbound API's shape.
/// </summary>
internal sealed class BudgetGate(Spend.Budgets budgets, Spend.SpendReservations reservations, LlmMetrics metrics)
{
    /// <summary>Reserve: the call's prompt (counted with the model's tokenizer) plus its completion budget, priced, against the tenant's day.</summary>
    public async Task<bool> ReserveAsync(HttpContext http, LlmCall call)
    {
        call.Day = budgets.Today;
        call.PromptTokens = call.Embeddings
            ? TokenCounter.CountEmbeddingInput(call.Model, call.Request["input"])
            : TokenCounter.CountPrompt(call.Model, call.Messages, call.Request["tools"]);
        var completionBudget = call.Embeddings ? 0 : call.Request[call.BudgetField]!.GetValue<int>();
        var reserved = await reservations.ReserveAsync(call.Tenant, call.Model, call.PromptTokens, completionBudget, http.RequestAborted);
        if (reserved.StoreFailed)
        {
            OutcomeWriter.RetryAfter(http.Response, TimeSpan.FromSeconds(5));
            await OutcomeWriter.ErrorAsync(http, call.Api.Errors, 503, "budget_unavailable", $"The LLM spend of tenant '{call.Tenant}' cannot be checked against its budget right now.");
            return false;
        }
        if (reserved.Refusal is { } refusal)
        {
            // Not worth a retry before the next UTC midnight: SDKs that honour x-should-retry give up at once.
            http.Response.Headers["x-should-retry"] = "false";
            metrics.BudgetRejected(call.ApiLabel);
            OutcomeWriter.RetryAfter(http.Response, refusal.RetryAfter);
            await OutcomeWriter.ErrorAsync(http, call.Api.Errors, 429, "budget_exceeded",
                $"Tenant '{call.Tenant}' has reached its daily LLM budget ({refusal.Budget}); it resets at the next UTC midnight.");
            return false;
        }
        call.Reservation = reserved.Reservation;
        return true;
    }
}
