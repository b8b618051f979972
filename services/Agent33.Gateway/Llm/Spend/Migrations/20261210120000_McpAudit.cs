using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Gateway.Llm.Spend.Migrations
{
    /// <summary>
    /// The MCP audit trail (<c>mcp_audit</c>): one row per <c>tools/call</c> through a connector's door, read per tenant
    /// newest first, swept by age (<c>Mcp:Audit:RetentionDays</c>).
    /// </summary>
    public partial class McpAudit : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "mcp_audit",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    key_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    connector = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    tool = table.Column<string>(type: "text", nullable: false),
                    outcome = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    duration_ms = table.Column<double>(type: "double precision", nullable: false),
                    arguments_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    arguments = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_mcp_audit", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_mcp_audit_at",
                table: "mcp_audit",
                column: "at");

            migrationBuilder.CreateIndex(
                name: "ix_mcp_audit_tenant_id_at",
                table: "mcp_audit",
                columns: new[] { "tenant_id", "at", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "mcp_audit");
        }
    }
}
