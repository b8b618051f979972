using Npgsql;

namespace Agent33.Learning.Persistence;

/// <summary>
/// Plain Npgsql connections to the learning database, for the work that is SQL rather than EF: the signal writer,
/// pruning and the quarantine. The configured string (an opened connection's own string no longer carries the
/// password) is the one the DbContext uses, so both draw from the same pool.
/// </summary>
public sealed class LearningConnections(IConfiguration configuration)
{
    public NpgsqlConnection Create() => new(configuration.GetConnectionString(LearningPersistence.ConnectionName));

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        var connection = Create();
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
