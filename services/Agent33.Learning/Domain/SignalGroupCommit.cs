using System.Diagnostics.Metrics;
using Agent33.Learning.Persistence;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Agent33.Learning.Domain;

/// <summary>
/// Group commit for signal writes: the writes that arrive while a transaction commits wait for it, then share the
/// next one, so one commit (one fsync) acknowledges many signals. An idle service commits a write at once; under load
/// the batches grow with the load, up to <c>Learning:GroupCommit:MaxBatchSize</c>. A caller is answered once the
/// transaction holding its signal has committed, or with the failure of that transaction; a batch is never cut short
/// by one caller going away (the caller stops waiting, its signal is written or not with the others).
/// </summary>
public sealed class SignalGroupCommit(LearningConnections connections, IOptions<LearningOptions> options, StoredSignals stored, IMeterFactory meters)
{
    // Its own writer: one commit loop writes through it, and nothing else does.
    private readonly SignalWriter _writer = new(connections, options, stored);

    public const string BatchSizeMetric = "learning_signal_batch_size";

    private readonly Histogram<int> _batchSizes = meters.Create("Agent33.Learning")
        .CreateHistogram<int>(BatchSizeMetric, description: "Signals written together in one transaction.");

    private readonly Lock _gate = new();
    private readonly Queue<PendingWrite> _queue = new();
    private bool _committing; // a commit loop runs, and takes what is queued until nothing is

    /// <summary>Queues <paramref name="signal"/> for the next transaction and answers once that has committed.</summary>
    public Task<(SignalView Signal, bool Created)> RecordAsync(LearningSignal signal, CancellationToken ct)
    {
        var pending = new PendingWrite(signal, ct);
        bool startCommitting;
        lock (_gate)
        {
            _queue.Enqueue(pending);
            startCommitting = !_committing;
            _committing = true;
        }
        if (startCommitting)
        {
            // Off the caller's path, so its answer waits only for its own batch, not for the batches after it.
            _ = Task.Run(CommitQueuedAsync);
        }
        return pending.Answer.Task.WaitAsync(ct);
    }

    /// <summary>How many writes wait for a transaction to begin (what the next batch takes from).</summary>
    public int Queued
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    private async Task CommitQueuedAsync()
    {
        var policy = options.Value.GroupCommit;
        while (true)
        {
            if (policy.WaitMilliseconds > 0 && Queued < policy.MaxBatchSize)
            {
                await Task.Delay(policy.WaitMilliseconds);
            }
            var batch = new List<PendingWrite>();
            lock (_gate)
            {
                while (batch.Count < policy.MaxBatchSize && _queue.TryDequeue(out var pending))
                {
                    // A caller that has gone away before its transaction began is not written for.
                    if (pending.CallerGone.IsCancellationRequested)
                    {
                        pending.Answer.TrySetCanceled(pending.CallerGone);
                    }
                    else
                    {
                        batch.Add(pending);
                    }
                }
                if (batch.Count == 0 && _queue.Count == 0)
                {
                    _committing = false;
                    return;
                }
            }
            if (batch.Count > 0)
            {
                await CommitAsync(batch);
            }
        }
    }

    /// <summary>Writes <paramref name="batch"/> in one transaction and answers each caller; never throws.</summary>
    private async Task CommitAsync(List<PendingWrite> batch)
    {
        _batchSizes.Record(batch.Count);
        try
        {
            var outcomes = await _writer.WriteBatchAsync([.. batch.Select(p => p.Signal)]);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Answer.TrySetResult(outcomes[i]);
            }
        }
        catch (PostgresException ex) when (WaitedOutRestore(ex))
        {
            // The state is being replaced (a restore or import, on any replica) for longer than a write may wait. The
            // writes queued meanwhile would only wait again behind it, so they are answered with this batch: no write
            // waits much past RestoreWaitSeconds. Nothing was written; each caller may retry after Retry-After.
            var refused = new RestoreInProgressException(ex);
            foreach (var pending in batch.Concat(TakeQueued()))
            {
                pending.Answer.TrySetException(refused);
            }
        }
        catch (Exception ex) when (batch.Count > 1 && RolledBack(ex))
        {
            // Nothing of the batch is stored. Each signal alone, so one the database refuses (or a deadlock with
            // another replica's batch) fails its own caller only.
            foreach (var pending in batch)
            {
                await CommitAsync([pending]);
            }
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
            {
                pending.Answer.TrySetException(ex);
            }
        }
    }

    /// <summary>
    /// Whether the batch gave up waiting for the table lock a restore or import holds: the only lock a write waits
    /// for with a timeout (<see cref="SignalWriter.WriteBatchAsync"/>).
    /// </summary>
    private static bool WaitedOutRestore(PostgresException ex) => ex.SqlState == PostgresErrorCodes.LockNotAvailable;

    private List<PendingWrite> TakeQueued()
    {
        lock (_gate)
        {
            var queued = _queue.ToList();
            _queue.Clear();
            return queued;
        }
    }

    /// <summary>
    /// Whether the transaction certainly did not commit: Postgres answered a statement with an ERROR, which aborts the
    /// transaction. A lost connection or a FATAL (the server shutting down, perhaps while it flushed the commit)
    /// leaves that unknown, and writing the batch again could count a merge twice.
    /// </summary>
    private static bool RolledBack(Exception ex) => ex is PostgresException { InvariantSeverity: "ERROR" };

    private sealed class PendingWrite(LearningSignal signal, CancellationToken callerGone)
    {
        public LearningSignal Signal { get; } = signal;
        public CancellationToken CallerGone { get; } = callerGone;

        // Answered from the commit loop: the caller's continuation must not run on it.
        public TaskCompletionSource<(SignalView Signal, bool Created)> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
