using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Gateway.Llm.Spend.Migrations
{
    /// <summary>
    /// Reserve, then settle: the per-day budget gate (<c>llm_budget_days</c>, seeded from the spend recorded so far),
    /// outstanding reservations (<c>llm_reservations</c>), and which requests were charged estimated usage.
    /// </summary>
    public partial class LlmReservations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "estimated_requests",
                table: "llm_spend",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.CreateTable(
                name: "llm_budget_days",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    spent_tokens = table.Column<long>(type: "bigint", nullable: false, defaultValue: 0L),
                    spent_usd = table.Column<decimal>(type: "numeric(18,8)", precision: 18, scale: 8, nullable: false, defaultValue: 0m),
                    reserved_tokens = table.Column<long>(type: "bigint", nullable: false, defaultValue: 0L),
                    reserved_usd = table.Column<decimal>(type: "numeric(18,8)", precision: 18, scale: 8, nullable: false, defaultValue: 0m)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_llm_budget_days", x => new { x.tenant_id, x.day });
                });

            migrationBuilder.CreateTable(
                name: "llm_reservations",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost_usd = table.Column<decimal>(type: "numeric(18,8)", precision: 18, scale: 8, nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_llm_reservations", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_llm_reservations_expires_at",
                table: "llm_reservations",
                column: "expires_at");

            // The spend recorded before this migration still counts against today's budgets.
            migrationBuilder.Sql("""
                INSERT INTO llm_budget_days (tenant_id, day, spent_tokens, spent_usd)
                SELECT tenant_id, day, sum(prompt_tokens + completion_tokens), sum(cost_usd) FROM llm_spend GROUP BY tenant_id, day
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "llm_budget_days");

            migrationBuilder.DropTable(
                name: "llm_reservations");

            migrationBuilder.DropColumn(
                name: "estimated_requests",
                table: "llm_spend");
        }
    }
}
