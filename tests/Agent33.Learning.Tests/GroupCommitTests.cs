using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agent33.Learning.Domain;
using Agent33.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Agent33.Learning.Tests;

/// <summary>
/// Group commit: concurrent writes share a transaction, and every caller gets what it would have got writing alone —
/// created or merged, the right count — once its transaction has committed, or the error of a transaction that did not.
/// </summary>
public sealed class GroupCommitTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";
    private const string Source = "group-commit-test";

    private static string NewTenant() => $"t{Guid.NewGuid():N}"[..20];

    private static object Signal(string tenant, string summary, string severity = "medium", string details = "") =>
        new { signal_type = "incident", severity, summary, details, source = Source, tenant_id = tenant };

    [Fact]
    public async Task Duplicates_in_one_batch_merge_in_order_into_one_row_and_count_every_occurrence()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var stored = await ReadAsync(await admin.PostAsJsonAsync($"{Base}/signals", Signal(tenant, "Cache stampede after deploy")), HttpStatusCode.Created);

        var answers = await PostAsOneBatchAsync(factory, admin, tenant,
        [
            Signal(tenant, "Cache stampede after deploy", severity: "low"),
            Signal(tenant, "Search index lags behind writes"),
            Signal(tenant, "Cache stampede after deploy", severity: "critical"),
            Signal(tenant, "Search index lags behind writes", details: "The longest details of the batch win the merge."),
            Signal(tenant, "Cache stampede after deploy"),
            Signal(tenant, "Search index lags behind writes", severity: "high"),
            Signal(tenant, "Checkout latency regression"),
        ]);

        // The stored signal's duplicates: merged, one more occurrence each, whatever order they were taken in.
        var cache = answers.Where((_, i) => i is 0 or 2 or 4).ToList();
        Assert.All(cache, a => Assert.Equal((HttpStatusCode.OK, stored.Id), (a.Status, a.Id)));
        Assert.Equal([2, 3, 4], cache.Select(a => a.Count).Order());
        // A new signal and its duplicates in the same batch: the first is created, the others merge into it.
        var search = answers.Where((_, i) => i is 1 or 3 or 5).ToList();
        Assert.Single(search, a => a.Status == HttpStatusCode.Created);
        Assert.Single(search.Select(a => a.Id).Distinct());
        Assert.Equal([1, 2, 3], search.Select(a => a.Count).Order());
        Assert.Equal(HttpStatusCode.Created, search.MinBy(a => a.Count)!.Status);
        Assert.Equal(HttpStatusCode.Created, answers[6].Status);

        var rows = await RowsAsync(tenant);
        Assert.Equal((4, "critical"), (rows[stored.Id].Count, rows[stored.Id].Severity));
        Assert.Equal((3, "high", "The longest details of the batch win the merge."),
            (rows[search[0].Id].Count, rows[search[0].Id].Severity, rows[search[0].Id].Details));
        Assert.Equal(1, rows[answers[6].Id].Count);
        // The answer of the last merge is the row as stored.
        Assert.Equal(rows[search[0].Id].Details, search.MaxBy(a => a.Count)!.Body.GetProperty("details").GetString());
        // One transaction wrote all three rows (each row's xmin is the transaction that last wrote it).
        Assert.Equal(1, await TransactionsAsync([stored.Id, search[0].Id, answers[6].Id]));
    }

    [Fact]
    public async Task Many_concurrent_distinct_writes_are_all_stored_created_and_merged_on_repeat()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var clients = Enumerable.Range(0, 4).Select(_ => factory.CreateClient(TestKeys.Admin)).ToArray();
        var tenant = NewTenant();
        var summaries = Enumerable.Range(0, 300).Select(i => $"Concurrent distinct signal number {i}").ToArray();

        var first = await PostAllAsync(clients, summaries.Select(s => Signal(tenant, s)));
        Assert.All(first, a => Assert.Equal((HttpStatusCode.Created, 1), (a.Status, a.Count)));
        Assert.Equal(summaries, first.Select(a => a.Body.GetProperty("summary").GetString()));
        Assert.Equal(300, first.Select(a => a.Id).Distinct().Count());

        var listed = await clients[0].GetFromJsonAsync<JsonElement>($"{Base}/signals?tenant_id={tenant}&limit=1000");
        Assert.Equal(first.Select(a => a.Id).Order(), listed.EnumerateArray().Select(s => s.GetProperty("signal_id").GetString()!).Order());
        var transactions = await TransactionsAsync([.. first.Select(a => a.Id)]);
        Assert.True(transactions < summaries.Length, $"{summaries.Length} concurrent writes took {transactions} transactions: none was shared");

        var again = await PostAllAsync(clients, summaries.Select(s => Signal(tenant, s)));
        Assert.All(again, a => Assert.Equal((HttpStatusCode.OK, 2), (a.Status, a.Count)));
        Assert.Equal(first.Select(a => a.Id), again.Select(a => a.Id));
        Assert.All((await RowsAsync(tenant)).Values, row => Assert.Equal(2, row.Count));
    }

    [Fact]
    public async Task A_batch_the_database_refuses_answers_every_caller_503_and_stores_none_of_it()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var stored = await ReadAsync(await admin.PostAsJsonAsync($"{Base}/signals", Signal(tenant, "Refused: a stored signal")), HttpStatusCode.Created);
        // 57P03 (cannot connect now): what a database going down answers.
        await RefuseAsync(tenant, "57P03");

        var answers = await PostAsOneBatchAsync(factory, admin, tenant,
            [Signal(tenant, "Refused: a stored signal"), Signal(tenant, "Refused: a new signal"), Signal(tenant, "Refused: a new signal")]);

        Assert.All(answers, a => Assert.Equal((HttpStatusCode.ServiceUnavailable, "database_unavailable"), (a.Status, a.Body.ProblemCode())));
        var rows = await RowsAsync(tenant);
        Assert.Equal([stored.Id], rows.Keys.Where(id => id != PlugId(rows)));
        Assert.Equal(1, rows[stored.Id].Count);
    }

    [Fact]
    public async Task A_signal_the_database_refuses_fails_its_own_caller_and_the_rest_of_its_batch_is_written_as_if_alone()
    {
        await using var factory = new LearningServiceFactory(postgres);
        var admin = factory.CreateClient(TestKeys.Admin);
        var tenant = NewTenant();
        var stored = await ReadAsync(await admin.PostAsJsonAsync($"{Base}/signals", Signal(tenant, "Disk nearly full on worker")), HttpStatusCode.Created);
        await RefuseAsync(tenant, "23514"); // a check violation: this signal's fault, not the database's

        var answers = await PostAsOneBatchAsync(factory, admin, tenant,
        [
            Signal(tenant, "Disk nearly full on worker"),
            Signal(tenant, "Refused: a signal the database rejects"),
            Signal(tenant, "Memory leak in the parser"),
            Signal(tenant, "Memory leak in the parser"),
        ]);

        Assert.Equal((HttpStatusCode.OK, stored.Id, 2), (answers[0].Status, answers[0].Id, answers[0].Count));
        Assert.Equal((HttpStatusCode.InternalServerError, "internal_error"), (answers[1].Status, answers[1].Body.ProblemCode()));
        // The two duplicates were posted at once, so either may have queued first: one creates, the other merges.
        Assert.Equal([(HttpStatusCode.Created, 1), (HttpStatusCode.OK, 2)], answers[2..].Select(a => (a.Status, a.Count)).OrderBy(a => a.Count));
        Assert.Equal(answers[2].Id, answers[3].Id);
        // Stored as if each had been written alone: no occurrence from the refused attempt, nothing of the refused signal.
        var rows = await RowsAsync(tenant);
        Assert.Equal(new[] { stored.Id, answers[2].Id }.Order(), rows.Keys.Where(id => id != PlugId(rows)).Order());
        Assert.Equal((2, 2), (rows[stored.Id].Count, rows[answers[2].Id].Count));
    }

    private sealed record Answer(HttpStatusCode Status, JsonElement Body)
    {
        public string Id => Body.GetProperty("signal_id").GetString()!;
        public int Count => Body.GetProperty("occurrence_count").GetInt32();
    }

    private const string Plug = "Signal whose fingerprint another session holds";

    /// <summary>
    /// Posts <paramref name="bodies"/> at once while the batch before them waits on a fingerprint another session
    /// holds, so that they all queue and are written together, in one transaction; answers in their order.
    /// </summary>
    private async Task<Answer[]> PostAsOneBatchAsync(LearningServiceFactory factory, HttpClient client, string tenant, object[] bodies)
    {
        var queue = factory.Services.GetRequiredService<SignalGroupCommit>();
        Task<HttpResponseMessage> plugged;
        Task<HttpResponseMessage>[] posts;
        await using (var held = await HeldFingerprint.TakeAsync(postgres.ConnectionString, tenant, "incident", Plug, Source))
        {
            plugged = client.PostAsJsonAsync($"{Base}/signals", Signal(tenant, Plug));
            await Eventually.WaitUntilAsync(held.WriterWaitsAsync, "the batch before to wait for the held fingerprint");
            posts = [.. bodies.Select(body => client.PostAsJsonAsync($"{Base}/signals", body))];
            await Eventually.WaitUntilAsync(() => queue.Queued == bodies.Length, $"{bodies.Length} writes queued for the next batch");
        }
        (await plugged).EnsureSuccessStatusCode();
        return await Task.WhenAll(posts.Select(async post => await ReadAsync(await post)));
    }

    private static async Task<Answer[]> PostAllAsync(HttpClient[] clients, IEnumerable<object> bodies) =>
        await Task.WhenAll(bodies.Select(async (body, i) => await ReadAsync(await clients[i % clients.Length].PostAsJsonAsync($"{Base}/signals", body))));

    private static async Task<Answer> ReadAsync(HttpResponseMessage response, HttpStatusCode? expected = null)
    {
        using (response)
        {
            if (expected is { } status)
            {
                Assert.Equal(status, response.StatusCode);
            }
            return new Answer(response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
        }
    }

    /// <summary>A trigger that refuses, with <paramref name="sqlState"/>, every row of the tenant whose summary starts "Refused".</summary>
    private async Task RefuseAsync(string tenant, string sqlState) => await ExecuteAsync(
        $"""
        CREATE FUNCTION refuse_{tenant}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.summary LIKE 'Refused%' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{sqlState}'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_{tenant} BEFORE INSERT OR UPDATE ON learning_signals
          FOR EACH ROW WHEN (NEW.tenant_id = '{tenant}') EXECUTE FUNCTION refuse_{tenant}();
        """);

    private static string? PlugId(Dictionary<string, (int Count, string Severity, string Details, string Summary)> rows) =>
        rows.SingleOrDefault(r => r.Value.Summary == Plug).Key;

    private async Task<Dictionary<string, (int Count, string Severity, string Details, string Summary)>> RowsAsync(string tenant)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT signal_id, occurrence_count, severity, details, summary FROM learning_signals WHERE tenant_id = $1", connection)
        {
            Parameters = { new() { Value = tenant } },
        };
        await using var reader = await query.ExecuteReaderAsync();
        var rows = new Dictionary<string, (int, string, string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0), (reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)));
        }
        return rows;
    }

    /// <summary>How many transactions last wrote these signals' rows.</summary>
    private async Task<long> TransactionsAsync(string[] signalIds)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT count(DISTINCT xmin::text) FROM learning_signals WHERE signal_id = ANY($1)", connection)
        {
            Parameters = { new() { Value = signalIds } },
        };
        return (long)(await query.ExecuteScalarAsync())!;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
