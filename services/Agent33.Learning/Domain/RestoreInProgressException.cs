namespace Agent33.Learning.Domain;

/// <summary>
/// A signal write waited <c>Learning:RestoreWaitSeconds</c> for a restore or import that is replacing the state and
/// gave up; nothing was written. The API answers it 503 <c>restore_in_progress</c> with <c>Retry-After</c>.
/// </summary>
public sealed class RestoreInProgressException(Exception inner)
    : Exception("The learning state is being replaced by a restore or import; the write was not recorded.", inner);
