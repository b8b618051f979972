using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Agent33.Gateway.Llm.Spend;

/// <summary>One tenant's LLM spend on one UTC day for one model: the row every gateway replica adds to.</summary>
public sealed class LlmSpendRow
{
    public string TenantId { get; set; } = "";
    public DateOnly Day { get; set; }
    public string Model { get; set; } = "";
    public long Requests { get; set; }
    public long PromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public decimal CostUsd { get; set; }

    /// <summary>How many of the requests were charged estimated usage (no or invalid provider usage).</summary>
    public long EstimatedRequests { get; set; }
}

/// <summary>
/// A tenant's UTC day against its budgets, shared by every replica: the spend of settled calls and what outstanding
/// reservations hold. The row every reservation is granted on, one at a time.
/// </summary>
public sealed class LlmBudgetDay
{
    public string TenantId { get; set; } = "";
    public DateOnly Day { get; set; }
    public long SpentTokens { get; set; }
    public decimal SpentUsd { get; set; }
    public long ReservedTokens { get; set; }
    public decimal ReservedUsd { get; set; }
}

/// <summary>One call's outstanding reservation: released when the call settles, or when it expires (its replica died).</summary>
public sealed class LlmReservationRow
{
    public Guid Id { get; set; }
    public string TenantId { get; set; } = "";
    public DateOnly Day { get; set; }
    public long Tokens { get; set; }
    public decimal CostUsd { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>A response of <c>POST /v1/responses</c> kept for its tenant (<c>store</c>): the response object as answered, and the conversation it continues as chat messages.</summary>
public sealed class LlmStoredResponseRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The response object as the caller got it (JSON).</summary>
    public string Response { get; set; } = "";

    /// <summary>The turns so far, the answer's included, as chat completion messages (a JSON array), without the call's instructions.</summary>
    public string Conversation { get; set; } = "";
}

/// <summary>A <c>/mcp</c> session as begun: whose key began it and its <c>initialize</c> parameters, so another replica can take it over.</summary>
public sealed class McpSessionRow
{
    public string SessionId { get; set; } = "";
    public string KeyId { get; set; } = "";
    public string InitializeParams { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
}

/// <summary>
/// One MCP tool's pinned definition (<c>mcp_tool_pins</c>): the definition approved (or first seen), and a changed one
/// waiting for an admin. Definitions are kept in their canonical JSON, the text their hash is of.
/// </summary>
public sealed class McpToolPinRow
{
    public string Connector { get; set; } = "";
    public string Tool { get; set; } = "";
    public string ApprovedHash { get; set; } = "";
    public string ApprovedDefinition { get; set; } = "";

    /// <summary>The last listed definition that differs from the approved one; null when the server lists the approved one.</summary>
    public string? PendingHash { get; set; }
    public string? PendingDefinition { get; set; }
    public DateTimeOffset FirstSeenAt { get; set; }

    /// <summary>When the pending definition was first seen.</summary>
    public DateTimeOffset? ChangedAt { get; set; }

    /// <summary>When and by which key (its id) a change was approved; both null while the first definition seen holds.</summary>
    public DateTimeOffset? ApprovedAt { get; set; }
    public string? ApprovedBy { get; set; }
}

/// <summary>
/// One MCP <c>tools/call</c> that came through a connector's door (<c>mcp_audit</c>): who called which tool, how it
/// ended, and a hash of its arguments. Never the caller's key, only its id.
/// </summary>
public sealed class McpAuditRow
{
    /// <summary>Unique, and the tie-breaker of the newest-first order (<see cref="ServiceDefaults.Pages.PageCursor"/>).</summary>
    public string Id { get; set; } = "";

    /// <summary>When the call reached the gateway.</summary>
    public DateTimeOffset At { get; set; }

    public string TenantId { get; set; } = "";

    /// <summary>The API key's id (a prefix of its hash, as the key's principal carries it).</summary>
    public string KeyId { get; set; } = "";

    public string Connector { get; set; } = "";
    public string Tool { get; set; } = "";

    /// <summary>The call's outcome label, as in <c>connector_calls_total</c> (or <c>rate_limited</c>).</summary>
    public string Outcome { get; set; } = "";

    public double DurationMs { get; set; }

    /// <summary>SHA-256 (hex) of the arguments as canonical JSON: the same arguments hash the same in any key order.</summary>
    public string ArgumentsSha256 { get; set; } = "";

    /// <summary>The arguments, configured fields redacted, as canonical JSON; only with <c>Mcp:Audit:Arguments</c>.</summary>
    public string? Arguments { get; set; }
}

/// <summary>
/// The gateway's own database (<c>ConnectionStrings:gateway</c>): LLM spend, stored responses, MCP tool pins, the MCP
/// audit trail, <c>/mcp</c> sessions as begun and the Data Protection key ring that seals MCP session ids, shared by every
/// replica.
/// </summary>
public sealed class GatewayDbContext(DbContextOptions<GatewayDbContext> options) : DbContext(options), IDataProtectionKeyContext
{
    public DbSet<LlmSpendRow> LlmSpend => Set<LlmSpendRow>();

    public DbSet<LlmBudgetDay> LlmBudgetDays => Set<LlmBudgetDay>();

    public DbSet<LlmReservationRow> LlmReservations => Set<LlmReservationRow>();

    public DbSet<LlmStoredResponseRow> LlmResponses => Set<LlmStoredResponseRow>();

    public DbSet<McpToolPinRow> McpToolPins => Set<McpToolPinRow>();
    public DbSet<McpAuditRow> McpAudit => Set<McpAuditRow>();
    public DbSet<McpSessionRow> McpSessions => Set<McpSessionRow>();

    /// <summary>The Data Protection key ring (<c>data_protection_keys</c>), read and written by Data Protection alone.</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<LlmSpendRow>(spend =>
        {
            spend.ToTable("llm_spend");
            spend.HasKey(s => new { s.TenantId, s.Day, s.Model });
            spend.Property(s => s.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            spend.Property(s => s.Day).HasColumnName("day");
            spend.Property(s => s.Model).HasColumnName("model").HasMaxLength(200);
            spend.Property(s => s.Requests).HasColumnName("requests");
            spend.Property(s => s.PromptTokens).HasColumnName("prompt_tokens");
            spend.Property(s => s.CompletionTokens).HasColumnName("completion_tokens");
            spend.Property(s => s.CostUsd).HasColumnName("cost_usd").HasPrecision(18, 8);
            spend.Property(s => s.EstimatedRequests).HasColumnName("estimated_requests").HasDefaultValue(0L);
        });
        model.Entity<LlmBudgetDay>(day =>
        {
            day.ToTable("llm_budget_days");
            day.HasKey(d => new { d.TenantId, d.Day });
            day.Property(d => d.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            day.Property(d => d.Day).HasColumnName("day");
            day.Property(d => d.SpentTokens).HasColumnName("spent_tokens").HasDefaultValue(0L);
            day.Property(d => d.SpentUsd).HasColumnName("spent_usd").HasPrecision(18, 8).HasDefaultValue(0m);
            day.Property(d => d.ReservedTokens).HasColumnName("reserved_tokens").HasDefaultValue(0L);
            day.Property(d => d.ReservedUsd).HasColumnName("reserved_usd").HasPrecision(18, 8).HasDefaultValue(0m);
        });
        model.Entity<LlmReservationRow>(reservation =>
        {
            reservation.ToTable("llm_reservations");
            reservation.HasKey(r => r.Id);
            reservation.Property(r => r.Id).HasColumnName("id");
            reservation.Property(r => r.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            reservation.Property(r => r.Day).HasColumnName("day");
            reservation.Property(r => r.Tokens).HasColumnName("tokens");
            reservation.Property(r => r.CostUsd).HasColumnName("cost_usd").HasPrecision(18, 8);
            reservation.Property(r => r.ExpiresAt).HasColumnName("expires_at");
            reservation.HasIndex(r => r.ExpiresAt).HasDatabaseName("ix_llm_reservations_expires_at");
        });
        model.Entity<LlmStoredResponseRow>(response =>
        {
            response.ToTable("llm_responses");
            response.HasKey(r => r.Id);
            response.Property(r => r.Id).HasColumnName("id").HasMaxLength(64);
            response.Property(r => r.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            response.Property(r => r.CreatedAt).HasColumnName("created_at");
            response.Property(r => r.Response).HasColumnName("response");
            response.Property(r => r.Conversation).HasColumnName("conversation");
            response.HasIndex(r => r.CreatedAt).HasDatabaseName("ix_llm_responses_created_at"); // the retention's sweep
        });
        model.Entity<McpToolPinRow>(pin =>
        {
            pin.ToTable("mcp_tool_pins");
            pin.HasKey(p => new { p.Connector, p.Tool });
            // text, not a bounded varchar: a server's overlong tool name must not make the whole tools/list unanswerable.
            pin.Property(p => p.Connector).HasColumnName("connector");
            pin.Property(p => p.Tool).HasColumnName("tool");
            pin.Property(p => p.ApprovedHash).HasColumnName("approved_hash").HasMaxLength(64);
            pin.Property(p => p.ApprovedDefinition).HasColumnName("approved_definition");
            pin.Property(p => p.PendingHash).HasColumnName("pending_hash").HasMaxLength(64);
            pin.Property(p => p.PendingDefinition).HasColumnName("pending_definition");
            pin.Property(p => p.FirstSeenAt).HasColumnName("first_seen_at");
            pin.Property(p => p.ChangedAt).HasColumnName("changed_at");
            pin.Property(p => p.ApprovedAt).HasColumnName("approved_at");
            pin.Property(p => p.ApprovedBy).HasColumnName("approved_by").HasMaxLength(64);
        });
        model.Entity<McpSessionRow>(session =>
        {
            session.ToTable("mcp_sessions");
            session.HasKey(s => s.SessionId);
            session.Property(s => s.SessionId).HasColumnName("session_id");
            session.Property(s => s.KeyId).HasColumnName("key_id").HasMaxLength(64);
            session.Property(s => s.InitializeParams).HasColumnName("initialize_params").HasColumnType("jsonb");
            session.Property(s => s.StartedAt).HasColumnName("started_at");
            session.HasIndex(s => s.StartedAt).HasDatabaseName("ix_mcp_sessions_started_at");
        });
        model.Entity<McpAuditRow>(audit =>
        {
            audit.ToTable("mcp_audit");
            audit.HasKey(a => a.Id);
            audit.Property(a => a.Id).HasColumnName("id").HasMaxLength(32);
            audit.Property(a => a.At).HasColumnName("at");
            audit.Property(a => a.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
            audit.Property(a => a.KeyId).HasColumnName("key_id").HasMaxLength(64);
            audit.Property(a => a.Connector).HasColumnName("connector").HasMaxLength(200);
            audit.Property(a => a.Tool).HasColumnName("tool"); // the caller's to name: no length that could refuse a whole batch
            audit.Property(a => a.Outcome).HasColumnName("outcome").HasMaxLength(32);
            audit.Property(a => a.DurationMs).HasColumnName("duration_ms");
            audit.Property(a => a.ArgumentsSha256).HasColumnName("arguments_sha256").HasMaxLength(64);
            audit.Property(a => a.Arguments).HasColumnName("arguments");
            // Every read is one tenant's, newest first (the page's keyset); the retention's sweep goes by time alone.
            audit.HasIndex(a => new { a.TenantId, a.At, a.Id }).HasDatabaseName("ix_mcp_audit_tenant_id_at");
            audit.HasIndex(a => a.At).HasDatabaseName("ix_mcp_audit_at");
        });
        model.Entity<DataProtectionKey>(key =>
        {
            // One row per key: its id as the friendly name and its XML (unencrypted unless an XML encryptor is configured).
            key.ToTable("data_protection_keys");
            key.HasKey(k => k.Id);
            key.Property(k => k.Id).HasColumnName("id");
            key.Property(k => k.FriendlyName).HasColumnName("friendly_name");
            key.Property(k => k.Xml).HasColumnName("xml");
        });
    }
}

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without a running database.</summary>
public sealed class DesignTimeGatewayDbContextFactory : IDesignTimeDbContextFactory<GatewayDbContext>
{
    public GatewayDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<GatewayDbContext>().UseNpgsql("Host=localhost;Database=gateway").Options);
}
