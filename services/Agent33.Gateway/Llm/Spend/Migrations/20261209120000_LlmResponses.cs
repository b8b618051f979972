using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Gateway.Llm.Spend.Migrations
{
    /// <summary>
    /// Stored responses of <c>POST /v1/responses</c> (<c>llm_responses</c>): the response object and the conversation it
    /// continues, per tenant, swept by age (<c>Llm:Responses:RetentionDays</c>).
    /// </summary>
    public partial class LlmResponses : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "llm_responses",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    response = table.Column<string>(type: "text", nullable: false),
                    conversation = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_llm_responses", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_llm_responses_created_at",
                table: "llm_responses",
                column: "created_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "llm_responses");
        }
    }
}
