using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Agent33.Learning.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class QuarantineExcerptAndHash : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "payload_bytes",
                table: "quarantined_records",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<string>(
                name: "payload_sha256",
                table: "quarantined_records",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<bool>(
                name: "payload_truncated",
                table: "quarantined_records",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            // Rows quarantined before: identify each whole payload by its hash and size, then keep only its
            // beginning (16,384 characters are at most 64 KiB of UTF-8), so the quarantine lists again.
            migrationBuilder.Sql(
                """
                UPDATE quarantined_records
                SET payload_sha256 = encode(sha256(convert_to(payload, 'UTF8')), 'hex'),
                    payload_bytes = octet_length(payload),
                    payload_truncated = octet_length(payload) > 65536,
                    payload = CASE WHEN octet_length(payload) > 65536 THEN left(payload, 16384) ELSE payload END;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "payload_bytes",
                table: "quarantined_records");

            migrationBuilder.DropColumn(
                name: "payload_sha256",
                table: "quarantined_records");

            migrationBuilder.DropColumn(
                name: "payload_truncated",
                table: "quarantined_records");
        }
    }
}
