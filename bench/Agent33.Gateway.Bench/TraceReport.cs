using Microsoft.Diagnostics.Tracing.Etlx;

/// <summary>
/// A text summary of a CPU trace taken with <c>dotnet-trace collect-linux --profile cpu-sampling</c>
/// (<c>dotnet-trace report</c> charges every such sample to the event itself, so it cannot rank frames).
/// Counts the kernel's CPU samples of the busiest process in the trace by leaf frame, by the managed frame
/// that called into native code, by component and by feature.
/// </summary>
internal static class TraceReport
{
    // Each sample is charged to the innermost frame that belongs to one of these (first match in this order),
    // so a middleware is charged its own work and the native code it calls, not everything it awaits.
    private static readonly (string Name, string[] Prefixes)[] Features =
    [
        ("OpenTelemetry (metrics and tracing listeners)", ["OpenTelemetry."]),
        ("System.Diagnostics (Activity, Meter, DiagnosticListener)", ["System.Diagnostics."]),
        ("API-key lookup (Agent33.ServiceDefaults.Auth)", ["Agent33.ServiceDefaults.Auth."]),
        ("authentication and authorization", ["Microsoft.AspNetCore.Authentication.", "Microsoft.AspNetCore.Authorization."]),
        ("rate limiter", ["Microsoft.AspNetCore.RateLimiting.", "System.Threading.RateLimiting."]),
        ("logging", ["Microsoft.Extensions.Logging."]),
        ("dependency injection", ["Microsoft.Extensions.DependencyInjection."]),
        ("Polly", ["Polly."]),
        ("gateway boundary (Agent33.Gateway)", ["Agent33.Gateway."]),
        ("YARP", ["Yarp."]),
        ("HttpClient to the backend (System.Net.Http)", ["System.Net.Http."]),
        ("Kestrel", ["Microsoft.AspNetCore.Server.Kestrel."]),
        ("other ASP.NET Core (hosting, routing, middleware)", ["Microsoft.AspNetCore."]),
        ("sockets", ["System.Net.Sockets."]),
    ];

    private sealed record Frame(string Name, string Module, bool Native);

    public static int Print(string path, int top)
    {
        using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(path));
        // The enumerator hands out one reused event object: each stack is read while its event is current.
        var samples = log.Events.Where(e => e.EventName == "cpu").Select(e => (e.ProcessID, Stack: Frames(e.CallStack()))).ToList();
        if (samples.Count == 0)
        {
            Console.Error.WriteLine("no CPU samples: take the trace with dotnet-trace collect-linux --profile cpu-sampling (for dotnet-trace collect traces use dotnet-trace report topN)");
            return 1;
        }
        var pid = samples.GroupBy(e => e.ProcessID).MaxBy(g => g.Count())!.Key;
        var stacks = samples.Where(e => e.ProcessID == pid).Select(e => e.Stack).ToList();
        Console.WriteLine($"{stacks.Count} CPU samples of process {pid} ({samples.Count} in the trace)");

        Section("exclusive, by leaf frame", stacks.Select(s => s[0].Name));
        // Kernel, runtime and libc time says little by itself; the managed frame that called into it says why.
        Section("exclusive, native time charged to the managed frame that called it", stacks.Select(s =>
            !s[0].Native ? s[0].Name
            : s.FirstOrDefault(f => !f.Native) is { } caller ? $"{caller.Name} → {s[0].Module}"
            : $"(no managed frame) {s[0].Name}"));
        Section("exclusive, by component (namespace of the innermost managed frame)", stacks.Select(s => s.FirstOrDefault(f => !f.Native) is { } m
            ? Namespace(m.Name) : "(no managed frame: GC, JIT, runtime threads)"));
        Section("where the leaf runs", stacks.Select(s => s[0].Native ? s[0].Module : "managed code"));
        Section("by feature (innermost frame that belongs to one; native time included)", stacks.Select(s => s
            .Select(f => Features.FirstOrDefault(x => x.Prefixes.Any(p => f.Name.StartsWith(p, StringComparison.Ordinal))).Name)
            .FirstOrDefault(name => name is not null) ?? "(none of these: thread pool, runtime, GC, JIT)"));
        Section("inclusive, by frame", stacks.SelectMany(s => s.Select(f => f.Name).Distinct()));
        return 0;

        void Section(string title, IEnumerable<string> keys)
        {
            Console.WriteLine($"\n{title}:");
            var i = 0;
            foreach (var group in keys.GroupBy(k => k).OrderByDescending(g => g.Count()).Take(top))
            {
                var name = group.Key.Length > 150 ? group.Key[..150] + "…" : group.Key;
                Console.WriteLine($"{++i,3}. {100.0 * group.Count() / stacks.Count,5:F1}%  {name}");
            }
        }
    }

    /// <summary>
    /// What a process allocates, from the runtime's allocation ticks (one per ~100 KB allocated) in a trace taken with
    /// <c>dotnet-trace collect --profile gc-verbose</c>: by type, and by the innermost frame outside the runtime's
    /// own libraries (System.*, Microsoft.Extensions.*) that allocated it.
    /// </summary>
    public static int PrintAllocations(string path, int top)
    {
        using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(path));
        var ticks = log.Events.OfType<Microsoft.Diagnostics.Tracing.Parsers.Clr.GCAllocationTickTraceData>()
            .Select(e => (Type: e.TypeName, Bytes: e.AllocationAmount64, Caller: Frames(e.CallStack()).FirstOrDefault(f => !f.Native
                && !f.Name.StartsWith("System.", StringComparison.Ordinal) && !f.Name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal))?.Name ?? "(runtime)"))
            .ToList();
        if (ticks.Count == 0)
        {
            Console.Error.WriteLine("no allocation ticks: take the trace with dotnet-trace collect --profile gc-verbose");
            return 1;
        }
        var total = (double)ticks.Sum(t => t.Bytes);
        Console.WriteLine($"{ticks.Count} allocation ticks, {total / 1e6:F0} MB");
        foreach (var (title, key) in new (string, Func<(string Type, long Bytes, string Caller), string>)[] { ("by type", t => t.Type), ("by allocating frame", t => t.Caller) })
        {
            Console.WriteLine($"\n{title}:");
            var i = 0;
            foreach (var group in ticks.GroupBy(key).OrderByDescending(g => g.Sum(t => t.Bytes)).Take(top))
            {
                var name = group.Key.Length > 150 ? group.Key[..150] + "…" : group.Key;
                Console.WriteLine($"{++i,3}. {100.0 * group.Sum(t => t.Bytes) / total,5:F1}%  {name}");
            }
        }
        return 0;
    }

    private static List<Frame> Frames(TraceCallStack? stack)
    {
        var frames = new List<Frame>();
        for (; stack is not null; stack = stack.Caller)
        {
            var address = stack.CodeAddress;
            var module = address.ModuleName ?? "";
            var method = address.FullMethodName;
            var native = module == "vmlinux" || module.Contains(".so", StringComparison.Ordinal) || (module.Length == 0 && string.IsNullOrEmpty(method));
            var name = !string.IsNullOrEmpty(method) ? method
                : native ? $"{(module == "vmlinux" ? "kernel" : module.Length == 0 ? "?" : module)} (native)"
                : $"{module}!? (managed, unresolved)";
            frames.Add(new Frame(name, module == "vmlinux" ? "kernel" : module.Length == 0 ? "jitted code" : module, native));
        }
        return frames.Count > 0 ? frames : [new Frame("(no stack)", "?", Native: true)];
    }

    private static string Namespace(string method)
    {
        var parts = method.Split("::")[0].Split('+')[0].Split('`')[0].Split('.');
        return string.Join('.', parts.Take(Math.Clamp(parts.Length - 1, 1, 3)));
    }
}
