using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Gateway.Llm.Spend.Migrations
{
    /// <summary>
    /// <c>/mcp</c> sessions as begun (<c>mcp_sessions</c>): the session id, the key id that began it and the client's
    /// <c>initialize</c> parameters, so a session continues on any gateway replica. Rows older than
    /// <c>Mcp:SessionHours</c> are deleted.
    /// </summary>
    public partial class McpSessions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "mcp_sessions",
                columns: table => new
                {
                    session_id = table.Column<string>(type: "text", nullable: false),
                    key_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    initialize_params = table.Column<string>(type: "jsonb", nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_mcp_sessions", x => x.session_id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_mcp_sessions_started_at",
                table: "mcp_sessions",
                column: "started_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "mcp_sessions");
        }
    }
}
