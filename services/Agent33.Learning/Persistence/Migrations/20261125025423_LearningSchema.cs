using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Agent33.Learning.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class LearningSchema : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "backups",
                columns: table => new
                {
                    backup_id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    signal_count = table.Column<int>(type: "integer", nullable: false),
                    intake_count = table.Column<int>(type: "integer", nullable: false),
                    signal_intake_map_count = table.Column<int>(type: "integer", nullable: false),
                    checksum_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_backups", x => x.backup_id);
                });

            migrationBuilder.CreateTable(
                name: "generated_intakes",
                columns: table => new
                {
                    intake_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    generated_from_signal_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    submitted_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    document = table.Column<string>(type: "jsonb", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_generated_intakes", x => x.intake_id);
                });

            migrationBuilder.CreateTable(
                name: "import_runs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    source_kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    source = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    source_checksum = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    status = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    forced = table.Column<bool>(type: "boolean", nullable: false),
                    signals_imported = table.Column<int>(type: "integer", nullable: false),
                    intakes_imported = table.Column<int>(type: "integer", nullable: false),
                    map_entries_imported = table.Column<int>(type: "integer", nullable: false),
                    snapshots_imported = table.Column<int>(type: "integer", nullable: false),
                    quarantined = table.Column<int>(type: "integer", nullable: false),
                    message = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_import_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "learning_signals",
                columns: table => new
                {
                    signal_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    recorded_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    signal_type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    severity = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    severity_rank = table.Column<int>(type: "integer", nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    summary = table.Column<string>(type: "text", nullable: false),
                    details = table.Column<string>(type: "text", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    context = table.Column<string>(type: "jsonb", nullable: false),
                    quality_score = table.Column<double>(type: "double precision", nullable: false),
                    quality_label = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    quality_reasons = table.Column<string>(type: "jsonb", nullable: false),
                    enrichment = table.Column<string>(type: "jsonb", nullable: false),
                    occurrence_count = table.Column<int>(type: "integer", nullable: false),
                    first_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    intake_generated = table.Column<bool>(type: "boolean", nullable: false),
                    related_intake_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    fingerprint = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_learning_signals", x => x.signal_id);
                });

            migrationBuilder.CreateTable(
                name: "metrics_snapshots",
                columns: table => new
                {
                    snapshot_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    position = table.Column<long>(type: "bigint", nullable: false),
                    document = table.Column<string>(type: "jsonb", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_metrics_snapshots", x => x.snapshot_id);
                });

            migrationBuilder.CreateTable(
                name: "quarantined_records",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    quarantined_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    source = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    reason = table.Column<string>(type: "text", nullable: false),
                    payload = table.Column<string>(type: "text", nullable: false),
                    import_run_id = table.Column<long>(type: "bigint", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_quarantined_records", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "signal_intake_map",
                columns: table => new
                {
                    signal_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    intake_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_signal_intake_map", x => x.signal_id);
                });

            migrationBuilder.CreateTable(
                name: "backup_chunks",
                columns: table => new
                {
                    backup_id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    seq = table.Column<int>(type: "integer", nullable: false),
                    data = table.Column<byte[]>(type: "bytea", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_backup_chunks", x => new { x.backup_id, x.seq });
                    table.ForeignKey(
                        name: "FK_backup_chunks_backups_backup_id",
                        column: x => x.backup_id,
                        principalTable: "backups",
                        principalColumn: "backup_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_backups_created_at",
                table: "backups",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "IX_generated_intakes_generated_from_signal_id",
                table: "generated_intakes",
                column: "generated_from_signal_id");

            migrationBuilder.CreateIndex(
                name: "IX_generated_intakes_submitted_at_intake_id",
                table: "generated_intakes",
                columns: new[] { "submitted_at", "intake_id" });

            migrationBuilder.CreateIndex(
                name: "IX_generated_intakes_tenant_id_submitted_at",
                table: "generated_intakes",
                columns: new[] { "tenant_id", "submitted_at" });

            migrationBuilder.CreateIndex(
                name: "IX_import_runs_started_at",
                table: "import_runs",
                column: "started_at");

            migrationBuilder.CreateIndex(
                name: "IX_learning_signals_fingerprint_recorded_at",
                table: "learning_signals",
                columns: new[] { "fingerprint", "recorded_at" });

            migrationBuilder.CreateIndex(
                name: "IX_learning_signals_recorded_at_signal_id",
                table: "learning_signals",
                columns: new[] { "recorded_at", "signal_id" });

            migrationBuilder.CreateIndex(
                name: "IX_learning_signals_tenant_id_recorded_at",
                table: "learning_signals",
                columns: new[] { "tenant_id", "recorded_at" });

            migrationBuilder.CreateIndex(
                name: "IX_metrics_snapshots_position",
                table: "metrics_snapshots",
                column: "position");

            migrationBuilder.CreateIndex(
                name: "IX_quarantined_records_quarantined_at",
                table: "quarantined_records",
                column: "quarantined_at");

            migrationBuilder.CreateIndex(
                name: "IX_signal_intake_map_intake_id",
                table: "signal_intake_map",
                column: "intake_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "backup_chunks");

            migrationBuilder.DropTable(
                name: "generated_intakes");

            migrationBuilder.DropTable(
                name: "import_runs");

            migrationBuilder.DropTable(
                name: "learning_signals");

            migrationBuilder.DropTable(
                name: "metrics_snapshots");

            migrationBuilder.DropTable(
                name: "quarantined_records");

            migrationBuilder.DropTable(
                name: "signal_intake_map");

            migrationBuilder.DropTable(
                name: "backups");
        }
    }
}
