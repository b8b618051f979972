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
}

/// <summary>The gateway's own database (<c>ConnectionStrings:gateway</c>): LLM spend, shared by every replica.</summary>
public sealed class GatewayDbContext(DbContextOptions<GatewayDbContext> options) : DbContext(options)
{
    public DbSet<LlmSpendRow> LlmSpend => Set<LlmSpendRow>();

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
        });
    }
}

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without a running database.</summary>
public sealed class DesignTimeGatewayDbContextFactory : IDesignTimeDbContextFactory<GatewayDbContext>
{
    public GatewayDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<GatewayDbContext>().UseNpgsql("Host=localhost;Database=gateway").Options);
}
