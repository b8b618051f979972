using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agent33.Contracts.Routing;
using Agent33.Testing;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Agent33.Routing.Tests;

/// <summary><c>POST /v1/routing/usage</c>: the gateway's report of a call's actual usage, priced by the routing service's catalogue.</summary>
public sealed class UsageTests
{
    private static WebApplicationFactory<Program> Service(params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseTestKeys();
            b.UseSetting("services:learning-service:http:0", "http://127.0.0.1:9");
            foreach (var (key, value) in settings)
            {
                b.UseSetting(key, value);
            }
        });

    private static async Task<JsonElement> ReportAsync(HttpClient client, object body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await client.PostAsJsonAsync("/v1/routing/usage", body);
        Assert.Equal(expected, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>The shipped catalogue's prices per million tokens, read from the service's own resource without its code.</summary>
    private static (decimal Input, decimal Output, string Source) CataloguePrice(string provider, string model)
    {
        using var stream = typeof(Program).Assembly.GetManifestResourceStream("pricing.json")!;
        using var catalogue = JsonDocument.Parse(stream);
        var entry = catalogue.RootElement.GetProperty("entries").EnumerateArray()
            .Single(e => e.GetProperty("provider").GetString() == provider && e.GetProperty("model").GetString() == model);
        return (decimal.Parse(entry.GetProperty("input_cost_per_million").GetString()!, CultureInfo.InvariantCulture),
            decimal.Parse(entry.GetProperty("output_cost_per_million").GetString()!, CultureInfo.InvariantCulture),
            entry.GetProperty("source").GetString()!);
    }

    [Theory]
    [InlineData("openai", "gpt-4o", "gpt-4o", 1234, 567)]
    [InlineData("openai", "gpt-4o-mini", "GPT-4o-Mini", 100_000, 2_500)] // looked up case-insensitively, echoed as sent
    [InlineData("openai", "claude-sonnet-4", "claude-sonnet-4", 7, 0)]
    [InlineData("deepseek", "deepseek-chat", "deepseek-chat", 0, 0)]
    public async Task A_catalogue_model_costs_its_input_price_times_prompt_tokens_plus_its_output_price_times_completion_tokens(
        string provider, string catalogueModel, string reported, int prompt, int completion)
    {
        // A flat rate is configured too: a model the catalogue knows is never priced by it.
        await using var factory = Service(("Routing:CostPer1kTokens", "0.5"));
        var (input, output, source) = CataloguePrice(provider, catalogueModel);
        var expected = (double)Math.Round(input * prompt / 1_000_000m + output * completion / 1_000_000m, 6, MidpointRounding.ToEven);

        var usage = await ReportAsync(factory.CreateClient(TestKeys.Writer), new { model = reported, prompt_tokens = prompt, completion_tokens = completion });

        Assert.Equal(reported, usage.GetProperty("model").GetString());
        Assert.Equal((prompt, completion, prompt + completion),
            (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32()));
        Assert.Equal(expected, usage.GetProperty("cost_usd").GetDouble());
        Assert.Equal("catalogue", usage.GetProperty("cost_status").GetString());
        Assert.Equal(source, usage.GetProperty("cost_source").GetString());
    }

    [Fact]
    public async Task Input_and_output_tokens_are_priced_apart()
    {
        await using var factory = Service();
        var client = factory.CreateClient(TestKeys.Writer);

        // gpt-4o: 2.50 in, 10.00 out per million — a million of each is 2.5 and 10, not the same.
        var prompt = await ReportAsync(client, new { model = "gpt-4o", prompt_tokens = 1_000_000, completion_tokens = 0 });
        var completion = await ReportAsync(client, new { model = "gpt-4o", prompt_tokens = 0, completion_tokens = 1_000_000 });

        Assert.Equal(2.5, prompt.GetProperty("cost_usd").GetDouble());
        Assert.Equal(10.0, completion.GetProperty("cost_usd").GetDouble());
    }

    [Fact]
    public async Task An_operator_override_prices_the_model_before_the_catalogue_and_a_wildcard_provider_needs_its_name()
    {
        await using var factory = Service(
            ("Routing:CostPer1kTokens", "0.002"),
            ("Routing:PricingOverrides:0:Provider", "openai"), ("Routing:PricingOverrides:0:Model", "gpt-4o"),
            ("Routing:PricingOverrides:0:InputCostPerMillion", "1"), ("Routing:PricingOverrides:0:OutputCostPerMillion", "2"));
        var client = factory.CreateClient(TestKeys.Service);

        var overridden = await ReportAsync(client, new { tenant_id = "acme", model = "gpt-4o", prompt_tokens = 1000, completion_tokens = 500 });
        Assert.Equal((0.002, "catalogue", "user_override"),
            (overridden.GetProperty("cost_usd").GetDouble(), overridden.GetProperty("cost_status").GetString(), overridden.GetProperty("cost_source").GetString()));

        // ollama prices every model at zero; without the provider the model is unknown and takes the flat rate.
        var local = await ReportAsync(client, new { model = "my-finetune", provider = "ollama", prompt_tokens = 1000, completion_tokens = 500 });
        Assert.Equal((0.0, "catalogue"), (local.GetProperty("cost_usd").GetDouble(), local.GetProperty("cost_status").GetString()));
        var unnamed = await ReportAsync(client, new { model = "my-finetune", prompt_tokens = 1000, completion_tokens = 500 });
        Assert.Equal((0.003, "flat_rate"), (unnamed.GetProperty("cost_usd").GetDouble(), unnamed.GetProperty("cost_status").GetString()));
    }

    [Theory]
    [InlineData("0.002", 1200, 300, 0.003)]
    [InlineData("0.01", 1, 0, 0.00001)]
    [InlineData("0.003", 1, 1, 0.000006)]
    public async Task A_model_the_catalogue_does_not_know_falls_back_to_the_flat_rate_over_all_tokens_and_says_so(string rate, int prompt, int completion, double expected)
    {
        await using var factory = Service(("Routing:CostPer1kTokens", rate));

        var usage = await ReportAsync(factory.CreateClient(TestKeys.Writer), new { model = "acme-llm-7b", prompt_tokens = prompt, completion_tokens = completion });

        Assert.Equal(expected, usage.GetProperty("cost_usd").GetDouble());
        Assert.Equal("flat_rate", usage.GetProperty("cost_status").GetString());
        Assert.Equal("legacy_flat_rate", usage.GetProperty("cost_source").GetString());
    }

    [Fact]
    public async Task Without_an_entry_or_a_flat_rate_the_usage_is_unpriced_and_its_cost_null()
    {
        await using var factory = Service(("Routing:CostPer1kTokens", "0"));

        var usage = await ReportAsync(factory.CreateClient(TestKeys.Writer), new { model = "acme-llm-7b", prompt_tokens = 10, completion_tokens = 5 });

        Assert.Equal(JsonValueKind.Null, usage.GetProperty("cost_usd").ValueKind);
        Assert.Equal("unpriced", usage.GetProperty("cost_status").GetString());
        Assert.Equal(JsonValueKind.Null, usage.GetProperty("cost_source").ValueKind);
        Assert.Equal(15, usage.GetProperty("total_tokens").GetInt32());
        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        Assert.Equal(15, summary.GetProperty("effort_routing_actual_tokens").GetProperty("sum").GetDouble());
        Assert.False(summary.TryGetProperty("effort_routing_actual_cost_usd", out _), "an unpriced call was recorded at some cost");
    }

    [Theory]
    [InlineData("""{"prompt_tokens": 1, "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "", "prompt_tokens": 1, "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "   ", "prompt_tokens": 1, "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "m", "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": -1, "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": -5}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 10000001, "completion_tokens": 1}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "effort": "max"}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "effort": "HIGH"}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "estimated_token_budget": 0}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "estimated_token_budget": 10000001}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "estimated_cost": -0.01}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "estimated_cost": 1e300}""", "invalid_request")]
    [InlineData("""{"model": "m", "prompt_tokens": 1.5, "completion_tokens": 1}""", "invalid_json")]
    [InlineData("""{"model": "m", "prompt_tokens": 99999999999, "completion_tokens": 1}""", "invalid_json")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1""", "invalid_json")]
    [InlineData("""{"model": "m", "prompt_tokens": 1, "completion_tokens": 1, "tenant_id": "no spaces"}""", "invalid_tenant")]
    public async Task Bad_reports_get_400_with_a_code_and_are_not_recorded(string body, string code)
    {
        await using var factory = Service(("Routing:CostPer1kTokens", "0.002"));

        var response = await factory.CreateClient(TestKeys.Writer).PostAsync("/v1/routing/usage", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await response.ProblemCodeAsync());
        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        Assert.False(summary.TryGetProperty("effort_routing_actual_tokens", out _), "a refused report was recorded");
    }

    [Theory]
    [InlineData(200)]
    [InlineData(201)]
    public async Task A_model_name_is_at_most_200_characters(int length)
    {
        await using var factory = Service();
        await ReportAsync(factory.CreateClient(TestKeys.Writer), new { model = new string('m', length), prompt_tokens = 1, completion_tokens = 1 },
            length <= 200 ? HttpStatusCode.OK : HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData(TestKeys.Writer, "tenant-b")]
    [InlineData(TestKeys.Writer, "default")]
    [InlineData(TestKeys.OtherWriter, "tenant-a")]
    public async Task A_key_naming_another_tenant_without_admin_or_service_gets_403_cross_tenant_denied(string key, string tenant)
    {
        await using var factory = Service();

        var denied = await ReportAsync(factory.CreateClient(key), new { tenant_id = tenant, model = "gpt-4o", prompt_tokens = 1, completion_tokens = 1 }, HttpStatusCode.Forbidden);

        Assert.Equal("cross_tenant_denied", denied.ProblemCode());
        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        Assert.False(summary.TryGetProperty("effort_routing_actual_tokens", out _), "a refused report was recorded");
    }

    [Theory]
    [InlineData(TestKeys.Service, "tenant-b")] // the gateway reporting for its caller
    [InlineData(TestKeys.Admin, "tenant-b")]
    [InlineData(TestKeys.Writer, "tenant-a")]
    [InlineData(TestKeys.Writer, " tenant-a ")]
    [InlineData(TestKeys.Writer, null)]
    public async Task Own_tenant_or_none_and_admin_or_service_keys_for_any_may_report(string key, string? tenant)
    {
        await using var factory = Service();

        var usage = await ReportAsync(factory.CreateClient(key), new UsageReport(tenant, "gpt-4o", null, 1, 1, null, null, null));

        Assert.Equal("catalogue", usage.GetProperty("cost_status").GetString());
    }

    [Fact]
    public async Task A_read_key_may_not_report_and_no_key_is_401()
    {
        await using var factory = Service();
        var body = new { model = "gpt-4o", prompt_tokens = 1, completion_tokens = 1 };

        Assert.Equal("forbidden", (await ReportAsync(factory.CreateClient(TestKeys.Reader), body, HttpStatusCode.Forbidden)).ProblemCode());
        Assert.Equal(HttpStatusCode.Unauthorized, (await factory.CreateClient().PostAsJsonAsync("/v1/routing/usage", body)).StatusCode);
    }

    private const string High = "effort=high";

    [Fact]
    public async Task One_report_shows_in_the_summary_beside_the_estimates_and_in_prometheus_text()
    {
        await using var factory = Service(("Routing:CostPer1kTokens", "0.002"));
        var client = factory.CreateClient(TestKeys.Service);

        // The gateway's sequence: a decision (estimated 1000 tokens at the flat rate: 0.002), then the provider's usage.
        var decision = (await (await client.PostAsJsonAsync(DecisionRequest.Path,
            new DecisionRequest(null, "gpt-4o", 1000, "high", "acme", null, JsonSerializer.SerializeToElement(new { prompt = "hi" }), null, null, null)))
            .Content.ReadFromJsonAsync<EffortDecision>())!;
        var usage = await ReportAsync(client,
            new UsageReport("acme", decision.Model, null, 1000, 500, decision.Effort, decision.EstimatedTokenBudget, decision.EstimatedCost));
        Assert.Equal(0.0075, usage.GetProperty("cost_usd").GetDouble()); // 1000 × 2.50 + 500 × 10.00 per million

        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        foreach (var key in new[] { "effort_routing_actual_tokens", $"effort_routing_actual_tokens({High})" })
        {
            AssertOne(summary, key, 1500);
        }
        foreach (var key in new[] { "effort_routing_actual_cost_usd", $"effort_routing_actual_cost_usd({High})" })
        {
            AssertOne(summary, key, 0.0075);
        }
        foreach (var key in new[] { "effort_routing_actual_to_estimated_token_ratio", $"effort_routing_actual_to_estimated_token_ratio({High})" })
        {
            AssertOne(summary, key, 1.5);
        }
        foreach (var key in new[] { "effort_routing_actual_to_estimated_cost_ratio", $"effort_routing_actual_to_estimated_cost_ratio({High})" })
        {
            AssertOne(summary, key, 3.75);
        }
        Assert.True(summary.TryGetProperty("effort_routing_estimated_cost_usd", out _), "the estimates sit beside the actuals");

        var prometheus = await factory.CreateClient().GetStringAsync("/metrics");
        foreach (var series in new[]
                 {
                     "effort_routing_actual_tokens_bucket{", "effort_routing_actual_cost_usd_bucket{",
                     "effort_routing_actual_to_estimated_token_ratio_bucket{", "effort_routing_actual_to_estimated_cost_ratio_bucket{",
                 })
        {
            Assert.Contains(series, prometheus);
        }
        Assert.Matches("""(?m)^effort_routing_actual_cost_usd_sum\{[^}]*effort="high"[^}]*\} 0\.0075$""", prometheus);
        Assert.Matches("""(?m)^effort_routing_actual_tokens_sum\{[^}]*effort="high"[^}]*\} 1500$""", prometheus);
    }

    [Fact]
    public async Task Without_effort_or_estimates_only_the_unlabelled_actuals_are_recorded()
    {
        await using var factory = Service();

        await ReportAsync(factory.CreateClient(TestKeys.Writer), new { model = "gpt-4o", prompt_tokens = 1000, completion_tokens = 0 });

        var summary = await factory.CreateClient(TestKeys.Reader).GetFromJsonAsync<JsonElement>("/v1/dashboard/metrics");
        Assert.Equal(["effort_routing_actual_cost_usd", "effort_routing_actual_tokens"],
            summary.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        AssertOne(summary, "effort_routing_actual_cost_usd", 0.0025);
    }

    private static void AssertOne(JsonElement summary, string key, double value)
    {
        Assert.True(summary.TryGetProperty(key, out var entry), $"the summary has no {key}");
        Assert.Equal((1, value, value), (entry.GetProperty("count").GetInt32(), entry.GetProperty("sum").GetDouble(), entry.GetProperty("window_sum").GetDouble()));
    }
}
