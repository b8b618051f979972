using System.Data.Common;

namespace Agent33.ServiceDefaults.Persistence;

/// <summary>
/// A Postgres session-level advisory lock, held on an open connection the caller owns until disposed: how replicas
/// take turns at work only one of them may do (migrations, the start-up import, a scheduled backup). Disposing
/// unlocks explicitly, because a pooled connection keeps its session — and the lock — after it is closed; a
/// connection that is gone has released the lock with its session.
/// </summary>
public sealed class SessionAdvisoryLock : IAsyncDisposable
{
    /// <summary>Schema migrations: one replica migrates at a time ("AG33MIGR"; each service's database has its own).</summary>
    public const long MigrationsKey = 0x4147_3333_4D49_4752;

    private readonly DbConnection _connection;
    private readonly long _key;

    private SessionAdvisoryLock(DbConnection connection, long key) => (_connection, _key) = (connection, key);

    /// <summary>Waits until the lock is free, then holds it.</summary>
    public static async Task<SessionAdvisoryLock> TakeAsync(DbConnection connection, long key, CancellationToken cancellationToken)
    {
        await ScalarAsync(connection, "SELECT pg_advisory_lock(@key)", key, cancellationToken);
        return new SessionAdvisoryLock(connection, key);
    }

    /// <summary>Holds the lock if it is free; null when another session holds it.</summary>
    public static async Task<SessionAdvisoryLock?> TryTakeAsync(DbConnection connection, long key, CancellationToken cancellationToken) =>
        await ScalarAsync(connection, "SELECT pg_try_advisory_lock(@key)", key, cancellationToken) is true ? new SessionAdvisoryLock(connection, key) : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ScalarAsync(_connection, "SELECT pg_advisory_unlock(@key)", _key, CancellationToken.None);
        }
        catch (DbException)
        {
            // the connection is gone, and the server released the lock with its session
        }
    }

    private static async Task<object?> ScalarAsync(DbConnection connection, string sql, long key, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "key";
        parameter.Value = key;
        command.Parameters.Add(parameter);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
