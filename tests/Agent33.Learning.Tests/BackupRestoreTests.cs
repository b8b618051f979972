using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agent33.Learning.Backup;
using Agent33.Learning.Tests.Backup;
using Agent33.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Agent33.Learning.Tests;

/// <summary>Backup, restore and legacy import through the API, on real Postgres, against the reference's files.</summary>
public sealed class BackupRestoreTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Base = "/v1/improvements/learning";
    private static readonly JsonElement Facts = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.PathOf("learning", "facts.json"))).RootElement;

    private static StringContent Fixture(string name) =>
        new(File.ReadAllText(ReferenceFixtures.PathOf("learning", name)), Encoding.UTF8, "application/json");

    private static async Task<int> CountAsync(HttpClient admin) =>
        (await admin.GetFromJsonAsync<JsonElement>($"{Base}/summary?tenant_id=*&limit=10000")).GetProperty("summary").GetProperty("total_signals").GetInt32();

    /// <summary>The reference's legacy state with one field of one signal replaced by raw JSON, escapes as written.</summary>
    private static string LegacyStateWithSignalField(string field, string rawValue)
    {
        var state = JsonNode.Parse(File.ReadAllText(ReferenceFixtures.PathOf("learning", "legacy-state.json")))!;
        state["signals"]![3]![field] = "DAMAGE-HERE";
        return state.ToJsonString().Replace("\"DAMAGE-HERE\"", rawValue, StringComparison.Ordinal);
    }

    private LearningServiceFactory Service(params (string, string)[] settings) =>
        new(postgres, [("Learning:MaxSignals", "100000"), ("Learning:PruneIntervalSeconds", "86400"), .. settings]);

    [Theory]
    [InlineData("database")]
    [InlineData("directory")]
    public async Task A_reference_backup_restores_and_backs_up_again_with_the_same_checksum(string storeKind)
    {
        var directory = Directory.CreateTempSubdirectory("agent33-backups-").FullName;
        try
        {
            await using var factory = Service(("Learning:Backups:Store", storeKind), ("Learning:Backups:Directory", directory));
            var admin = factory.CreateClient(TestKeys.Admin);

            var restored = await admin.PostAsync($"{Base}/restore", Fixture("backup-envelope.json"));
            Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
            var result = await restored.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(("ok", 100, 15), (result.GetProperty("status").GetString(), result.GetProperty("signal_count").GetInt32(), result.GetProperty("intake_count").GetInt32()));
            Assert.Equal(100, await CountAsync(admin));

            var backupResponse = await admin.PostAsync($"{Base}/backups", null);
            Assert.True(backupResponse.StatusCode == HttpStatusCode.Created, await backupResponse.Content.ReadAsStringAsync());
            var backup = await backupResponse.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(Facts.GetProperty("checksum_sha256").GetString(), backup.GetProperty("checksum_sha256").GetString());
            Assert.Equal((100, 15), (backup.GetProperty("signal_count").GetInt32(), backup.GetProperty("intake_count").GetInt32()));
            var backupId = backup.GetProperty("backup_id").GetString()!;
            Assert.Contains((await admin.GetFromJsonAsync<JsonElement>($"{Base}/backups")).EnumerateArray(), b => b.GetProperty("backup_id").GetString() == backupId);

            // The downloaded envelope verifies under the reference's rules.
            var downloaded = await admin.GetByteArrayAsync($"{Base}/backups/{backupId}");
            Assert.Equal(backup.GetProperty("size_bytes").GetInt64(), downloaded.Length);
            var verified = await EnvelopeReader.ReadAsync(new MemoryStream(downloaded), new NullSink(), CancellationToken.None);
            Assert.Equal(Facts.GetProperty("checksum_sha256").GetString(), verified.Checksum);

            // Restore by id after a change brings the backed-up state back.
            await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "A signal recorded after the backup", tenant_id = "default" });
            Assert.Equal(101, await CountAsync(admin));
            var byId = await admin.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
            Assert.Equal(HttpStatusCode.OK, byId.StatusCode);
            Assert.Equal(100, await CountAsync(admin));

            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"{Base}/backups/{backupId}")).StatusCode);
            var gone = await admin.PostAsJsonAsync($"{Base}/restore", new { backup_id = backupId });
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            Assert.Equal("backup_not_found", await gone.ProblemCodeAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("bad-checksum.json", "backup_checksum_mismatch")]
    [InlineData("bad-count.json", "backup_count_mismatch")]
    [InlineData("bad-version.json", "backup_version_unsupported")]
    [InlineData("missing-version.json", "backup_version_missing")]
    [InlineData("truncated.json", "backup_invalid")]
    public async Task Every_broken_backup_fails_with_its_code_and_changes_nothing(string file, string code)
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        await admin.PostAsJsonAsync($"{Base}/signals", new { summary = $"Existing signal before {file}", tenant_id = "default" });
        var before = await CountAsync(admin);

        var response = await admin.PostAsync($"{Base}/restore", Fixture(file));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await response.ProblemCodeAsync());
        Assert.Equal(before, await CountAsync(admin));
    }

    [Fact]
    public async Task A_legacy_raw_state_restores_and_an_empty_object_is_refused()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"{Base}/restore", Fixture("legacy-raw-backup.json"))).StatusCode);
        Assert.Equal(100, await CountAsync(admin));

        var empty = await admin.PostAsync($"{Base}/restore", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(100, await CountAsync(admin));
    }

    [Fact]
    public async Task Legacy_import_is_idempotent_and_force_replaces()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        // The class shares one database: start from an empty state, as a first import would.
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"{Base}/restore", new StringContent("""{"signals": []}""", Encoding.UTF8, "application/json"))).StatusCode);

        var first = await (await admin.PostAsync($"{Base}/migrations/import", Fixture("legacy-state.json"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("imported", 100, 15, 15), (first.GetProperty("status").GetString(), first.GetProperty("signal_count").GetInt32(),
            first.GetProperty("intake_count").GetInt32(), first.GetProperty("signal_intake_map_count").GetInt32()));

        await admin.PostAsJsonAsync($"{Base}/signals", new { summary = "Recorded after the import", tenant_id = "default" });
        var second = await (await admin.PostAsync($"{Base}/migrations/import", Fixture("legacy-state.json"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("skipped", second.GetProperty("status").GetString());
        Assert.Equal(101, await CountAsync(admin));

        var forced = await (await admin.PostAsync($"{Base}/migrations/import?force=true", Fixture("legacy-state.json"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("imported", forced.GetProperty("status").GetString());
        Assert.Equal(100, await CountAsync(admin));

        var status = await admin.GetFromJsonAsync<JsonElement>($"{Base}/migrations/status");
        Assert.Equal(0, status.GetProperty("pending").GetArrayLength());
        Assert.Equal("imported", status.GetProperty("last_import").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Corrupt_input_is_quarantined_counted_and_reported_never_silently_dropped()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);

        // A corrupt payload (the reference's broken SQLite row): nothing imported, payload kept verbatim.
        var payload = "{\"signals\": [{\"summary\": 5";
        var before = await CountAsync(admin);
        var rejected = await admin.PostAsync($"{Base}/migrations/import?force=true", new StringContent(payload, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        Assert.Equal(before, await CountAsync(admin));

        // One bad record with on_corruption=quarantine: the rest imports.
        var state = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.PathOf("learning", "legacy-state.json"))).RootElement;
        var signals = state.GetProperty("signals").EnumerateArray().Select(s => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(s.GetRawText())!).ToList();
        signals[0].Remove("summary");
        var damaged = JsonSerializer.Serialize(new { signals, generated_intakes = state.GetProperty("generated_intakes"), signal_intake_map = state.GetProperty("signal_intake_map") });
        var importResponse = await admin.PostAsync($"{Base}/migrations/import?on_corruption=quarantine&force=true", new StringContent(damaged, Encoding.UTF8, "application/json"));
        Assert.True(importResponse.IsSuccessStatusCode, await importResponse.Content.ReadAsStringAsync());
        var imported = await importResponse.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("imported_with_quarantine", 99, 1), (imported.GetProperty("status").GetString(), imported.GetProperty("signal_count").GetInt32(), imported.GetProperty("quarantined").GetInt32()));

        var quarantine = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/quarantine")).EnumerateArray().ToList();
        Assert.Contains(quarantine, q => q.GetProperty("kind").GetString() == "payload" && q.GetProperty("payload").GetString() == payload);
        Assert.Contains(quarantine, q => q.GetProperty("kind").GetString() == "signal" && q.GetProperty("reason").GetString()!.Contains("summary"));

        var metrics = await factory.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("learning_corruption_events_total", metrics);
    }

    /// <summary>
    /// Values the reference's Python would hold but the learning tables cannot (found by the fuzz test: each was
    /// a 500 from deep inside the COPY): a restore refuses them with a code, an import quarantines the record.
    /// </summary>
    [Theory]
    [InlineData("details", "\"Python stores \\u0000 happily; Postgres cannot.\"", "U+0000")]
    [InlineData("quality_label", "\"excellent\"", "quality_label 'excellent' is not one of low, medium, high")]
    [InlineData("signal_id", "\"LS-0123456789012345678901234567890123456789012345678901234567890123\"", "signal_id is longer than 64 characters")]
    [InlineData("tenant_id", "\"tenant-0123456789012345678901234567890123456789012345678901234567890\"", "tenant_id is longer than 64 characters")]
    [InlineData("occurrence_count", "1e300", "occurrence_count")]
    [InlineData("occurrence_count", "0", "occurrence_count")]
    [InlineData("quality_score", "1e400", "quality_score must be a finite number")]
    public async Task A_record_the_tables_cannot_hold_fails_a_restore_with_a_code_and_is_quarantined_by_an_import(string field, string rawValue, string reason)
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        var body = LegacyStateWithSignalField(field, rawValue);
        var before = await CountAsync(admin);

        var restore = await admin.PostAsync($"{Base}/restore", new StringContent(body, Encoding.UTF8, "application/json"));
        var problem = await restore.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.BadRequest, "backup_invalid"), (restore.StatusCode, problem.ProblemCode()));
        Assert.Contains(reason, problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountAsync(admin));

        var import = await admin.PostAsync($"{Base}/migrations/import?on_corruption=quarantine&force=true", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());
        Assert.Equal(("imported_with_quarantine", 99), ((await import.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString(), await CountAsync(admin)));
        var quarantine = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/quarantine")).EnumerateArray();
        Assert.Contains(quarantine, q => q.GetProperty("reason").GetString()!.Contains(reason));
    }

    /// <summary>
    /// Half a surrogate pair (Python's json reads and writes one; it is not Unicode text) makes the document
    /// unreadable, like broken UTF-8: a restore refuses it, an import quarantines the payload whole.
    /// </summary>
    [Fact]
    public async Task Text_that_is_not_unicode_fails_a_restore_and_an_import_quarantines_the_payload()
    {
        await using var factory = Service();
        var admin = factory.CreateClient(TestKeys.Admin);
        var body = LegacyStateWithSignalField("summary", "\"half an emoji \\ud83d only\"");
        var before = await CountAsync(admin);

        foreach (var route in new[] { "restore", "migrations/import?on_corruption=quarantine&force=true" })
        {
            var response = await admin.PostAsync($"{Base}/{route}", new StringContent(body, Encoding.UTF8, "application/json"));
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal((HttpStatusCode.BadRequest, "backup_invalid"), (response.StatusCode, problem.ProblemCode()));
            Assert.Contains("unpaired surrogate", problem.GetProperty("detail").GetString());
            Assert.Equal(before, await CountAsync(admin));
        }
        // The whole payload is identified by its hash; the quarantine keeps its first 64 KiB (this one is 94 KB).
        var quarantine = (await admin.GetFromJsonAsync<JsonElement>($"{Base}/quarantine")).EnumerateArray();
        var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        Assert.Contains(quarantine, q => q.GetProperty("kind").GetString() == "payload" && q.GetProperty("payload_sha256").GetString() == sha256
                                         && body.StartsWith(q.GetProperty("payload").GetString()!, StringComparison.Ordinal));
    }

    /// <summary>
    /// Found by the adversarial probe: a restore dripped at 300 B/s held every POST /signals for 30 s, because it locked
    /// the tables before reading its body. The body is now on local disk and verified before anything is locked.
    /// </summary>
    [Fact]
    public async Task A_slow_restore_upload_holds_up_no_writer()
    {
        var serverRead = 0L;
        await using var factory = Service();
        await using var counted = factory.WithWebHostBuilder(b => b.ConfigureServices(services =>
            services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new CountRestoreBodyReads(n => Interlocked.Add(ref serverRead, n)))));
        // A client without the factory's redirect handler, which would buffer the whole body before sending any of it.
        var admin = counted.CreateDefaultClient();
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestKeys.Admin);
        var writer = counted.CreateClient(TestKeys.Writer);
        var envelope = await File.ReadAllBytesAsync(ReferenceFixtures.PathOf("learning", "backup-envelope.json"));
        var rest = new TaskCompletionSource();

        // Most of the envelope arrives, then the client stalls, as a dripping client does.
        var restore = admin.PostAsync($"{Base}/restore", new StalledContent(envelope, 100_000, rest.Task));
        try
        {
            await Eventually.WaitUntilAsync(() => Interlocked.Read(ref serverRead) >= 100_000, "the service to read the first 100,000 bytes of the restore");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var write = await Record.ExceptionAsync(async () =>
            {
                using var response = await writer.PostAsJsonAsync($"{Base}/signals", new { summary = "Written while a restore is uploading" }, patience.Token);
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            });
            Assert.True(write is null, $"the write failed or waited for the restore: {write?.Message}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the write took {clock.Elapsed.TotalSeconds:F1} s while a restore was uploading");
        }
        finally
        {
            rest.SetResult();
        }
        Assert.Equal(HttpStatusCode.OK, (await restore).StatusCode);
        Assert.Equal(100, await CountAsync(admin)); // then the restore replaced the state, that write included
    }

    /// <summary>Counts the bytes the service reads from restore bodies (the test's view of how far the upload got).</summary>
    private sealed class CountRestoreBodyReads(Action<int> onRead) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            app.Use((context, then) =>
            {
                if (context.Request.Path.Value?.EndsWith("/restore", StringComparison.Ordinal) == true)
                {
                    context.Request.Body = new CountingStream(context.Request.Body, onRead);
                }
                return then(context);
            });
            next(app);
        };
    }

    private sealed class CountingStream(Stream inner, Action<int> onRead) : Stream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            onRead(read);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Sends the first <paramref name="first"/> bytes, then the rest only once <paramref name="rest"/> completes.</summary>
    private sealed class StalledContent(byte[] body, int first, Task rest) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, first));
            await stream.FlushAsync();
            await rest;
            await stream.WriteAsync(body.AsMemory(first));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }

    [Fact]
    public async Task Every_operation_needs_the_admin_scope()
    {
        await using var factory = Service();
        var writer = factory.CreateClient(TestKeys.Writer);
        foreach (var (method, path) in new[]
                 {
                     (HttpMethod.Post, "/backups"), (HttpMethod.Get, "/backups"), (HttpMethod.Post, "/restore"),
                     (HttpMethod.Post, "/migrations/import"), (HttpMethod.Get, "/migrations/status"), (HttpMethod.Get, "/quarantine"), (HttpMethod.Delete, "/quarantine/1"),
                 })
        {
            var response = await writer.SendAsync(new HttpRequestMessage(method, Base + path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }
}
