using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Gateway.Llm.Spend.Migrations
{
    /// <summary>
    /// Pinned MCP tool definitions (<c>mcp_tool_pins</c>): per connector and tool, the approved definition's hash and
    /// canonical JSON, and a changed one pending an admin's approval. The primary key is what lets replicas that see a
    /// tool first at the same moment agree: each inserts if absent, and all then read the one row.
    /// </summary>
    public partial class McpToolPins : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "mcp_tool_pins",
                columns: table => new
                {
                    connector = table.Column<string>(type: "text", nullable: false),
                    tool = table.Column<string>(type: "text", nullable: false),
                    approved_hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    approved_definition = table.Column<string>(type: "text", nullable: false),
                    pending_hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    pending_definition = table.Column<string>(type: "text", nullable: true),
                    first_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    changed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    approved_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    approved_by = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_mcp_tool_pins", x => new { x.connector, x.tool });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "mcp_tool_pins");
        }
    }
}
