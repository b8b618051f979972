namespace Agent33.Testing;

/// <summary>Waits for something a background process or another service brings about, for a bounded time.</summary>
public static class Eventually
{
    public static Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 60) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, seconds);

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"gave up after {seconds} s waiting for {what}");
            }
            await Task.Delay(20);
        }
    }
}
