using System.Data;
using System.Data.Common;
using Agent33.Learning.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Agent33.Learning.Backup;

/// <summary>
/// Backups in the learning database itself (the default): metadata in <c>backups</c>, the envelope in
/// 1 MiB rows of <c>backup_chunks</c>, so neither writing nor reading one needs it whole in memory. Metadata
/// and chunks are written in one transaction: a backup is listed only when complete.
/// </summary>
public sealed class DatabaseBackupStore(LearningDbContext db) : IBackupStore
{
    public const int ChunkBytes = 1024 * 1024;

    public async Task<BackupInfo> SaveAsync(BackupInfo info, Func<Stream, CancellationToken, Task> writeEnvelope, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The metadata row first (the chunks reference it); nobody sees either before the commit.
        await using (var insert = Command(connection, transaction,
            """
            INSERT INTO backups (backup_id, created_at, signal_count, intake_count, signal_intake_map_count, checksum_sha256, size_bytes)
            VALUES (@id, @created, @signals, @intakes, @map, @checksum, 0)
            """))
        {
            insert.Parameters.Add(new NpgsqlParameter("id", info.BackupId));
            insert.Parameters.Add(new NpgsqlParameter("created", info.CreatedAt.ToUniversalTime()));
            insert.Parameters.Add(new NpgsqlParameter("signals", info.SignalCount));
            insert.Parameters.Add(new NpgsqlParameter("intakes", info.IntakeCount));
            insert.Parameters.Add(new NpgsqlParameter("map", info.SignalIntakeMapCount));
            insert.Parameters.Add(new NpgsqlParameter("checksum", info.ChecksumSha256));
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        long size;
        await using (var chunks = new ChunkWriter((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, info.BackupId))
        {
            await writeEnvelope(chunks, cancellationToken);
            await chunks.FlushAsync(cancellationToken);
            size = chunks.Length;
        }
        var stored = info with { SizeBytes = size };
        await using (var update = Command(connection, transaction, "UPDATE backups SET size_bytes = @size WHERE backup_id = @id"))
        {
            update.Parameters.Add(new NpgsqlParameter("size", size));
            update.Parameters.Add(new NpgsqlParameter("id", info.BackupId));
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return stored;
    }

    public async Task<IReadOnlyList<BackupInfo>> ListAsync(CancellationToken cancellationToken) =>
        await QueryAsync("SELECT backup_id, created_at, signal_count, intake_count, signal_intake_map_count, checksum_sha256, size_bytes FROM backups ORDER BY created_at DESC", null, cancellationToken);

    public async Task<BackupInfo?> FindAsync(string backupId, CancellationToken cancellationToken) =>
        BackupIds.IsValid(backupId)
            ? (await QueryAsync("SELECT backup_id, created_at, signal_count, intake_count, signal_intake_map_count, checksum_sha256, size_bytes FROM backups WHERE backup_id = @id", backupId, cancellationToken)).SingleOrDefault()
            : null;

    public async Task<bool> CopyToAsync(string backupId, Stream output, CancellationToken cancellationToken)
    {
        if (await FindAsync(backupId, cancellationToken) is null)
        {
            return false;
        }
        var connection = await OpenAsync(cancellationToken);
        await using var select = Command(connection, null, "SELECT data FROM backup_chunks WHERE backup_id = @id ORDER BY seq");
        select.Parameters.Add(new NpgsqlParameter("id", backupId));
        await using var reader = await select.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            await using var chunk = reader.GetStream(0);
            await chunk.CopyToAsync(output, cancellationToken);
        }
        return true;
    }

    public async Task<bool> DeleteAsync(string backupId, CancellationToken cancellationToken)
    {
        if (!BackupIds.IsValid(backupId))
        {
            return false;
        }
        var connection = await OpenAsync(cancellationToken);
        // The chunks go with the metadata row (ON DELETE CASCADE).
        await using var delete = Command(connection, null, "DELETE FROM backups WHERE backup_id = @id");
        delete.Parameters.Add(new NpgsqlParameter("id", backupId));
        return await delete.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private async Task<List<BackupInfo>> QueryAsync(string sql, string? id, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        await using var select = Command(connection, null, sql);
        if (id is not null)
        {
            select.Parameters.Add(new NpgsqlParameter("id", id));
        }
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var list = new List<BackupInfo>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(new BackupInfo(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt32(2), reader.GetInt32(3),
                reader.GetInt32(4), reader.GetString(5), reader.GetInt64(6)));
        }
        return list;
    }

    private async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        if (connection.State != ConnectionState.Open)
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
        }
        return connection;
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    /// <summary>A write-only stream that stores what it receives as numbered chunk rows.</summary>
    private sealed class ChunkWriter(NpgsqlConnection connection, NpgsqlTransaction transaction, string backupId) : Stream
    {
        private readonly byte[] _buffer = new byte[ChunkBytes];
        private int _filled;
        private int _seq;
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (buffer.Length > 0)
            {
                var take = Math.Min(buffer.Length, _buffer.Length - _filled);
                buffer.Span[..take].CopyTo(_buffer.AsSpan(_filled));
                _filled += take;
                _length += take;
                buffer = buffer[take..];
                if (_filled == _buffer.Length)
                {
                    await StoreChunkAsync(cancellationToken);
                }
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_filled > 0)
            {
                await StoreChunkAsync(cancellationToken);
            }
        }

        private async Task StoreChunkAsync(CancellationToken cancellationToken)
        {
            await using var insert = new NpgsqlCommand("INSERT INTO backup_chunks (backup_id, seq, data) VALUES (@id, @seq, @data)", connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter("id", backupId));
            insert.Parameters.Add(new NpgsqlParameter("seq", _seq++));
            insert.Parameters.Add(new NpgsqlParameter("data", NpgsqlTypes.NpgsqlDbType.Bytea) { Value = new ArraySegment<byte>(_buffer, 0, _filled) });
            await insert.ExecuteNonQueryAsync(cancellationToken);
            _filled = 0;
        }

        public override void Flush() => throw new NotSupportedException("use FlushAsync");
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");
    }
}
