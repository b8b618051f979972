using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Agent33.Testing;

/// <summary>
/// Generators (CsCheck) of hostile request bodies: JSON of the right shape with wrong types, unknown enum values,
/// control characters, huge numbers and strings; and that JSON broken as bytes (truncated, invalid UTF-8, noise).
/// </summary>
public static class FuzzInputs
{
    private static readonly string[] Awkward =
    [
        "", " ", "null", "NaN", "-1", "1e309", "high", "HIGH", "Critical", "incident", "bug ", "default", "tenant-a", "tenant-b",
        "../../etc/passwd", "<script>", "' OR 1=1 --", "\u0000", "\t\r\n", "😀🔥", "ü", "\u202e", new string('x', 70_000),
    ];

    private static readonly Gen<string> Text = Gen.Frequency(
        (3, Gen.Char.Where(c => !char.IsSurrogate(c)).Array[0, 40].Select(chars => new string(chars))),
        (2, Gen.OneOf(Awkward)));

    private static readonly Gen<JsonNode?> Scalar = Gen.Frequency<JsonNode?>(
        (4, Text.Select(s => (JsonNode?)JsonValue.Create(s))),
        (1, Gen.Long.Select(n => (JsonNode?)JsonValue.Create(n))),
        (1, Gen.Int[-5, 100_000].Select(n => (JsonNode?)JsonValue.Create(n))),
        (1, Gen.Double.Where(double.IsFinite).Select(d => (JsonNode?)JsonValue.Create(d))),
        (1, Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b))),
        (1, Gen.Const((JsonNode?)null)));

    /// <summary>Any JSON value, nested up to <paramref name="depth"/> levels.</summary>
    public static Gen<JsonNode?> Value(int depth = 2) => depth == 0
        ? Scalar
        : Gen.Frequency(
            (6, Scalar),
            (1, Value(depth - 1).Array[0, 4].Select(items => (JsonNode?)new JsonArray(items))),
            (1, Gen.Select(Text, Value(depth - 1)).Array[0, 4].Select(pairs => (JsonNode?)ObjectOf(pairs))));

    /// <summary>
    /// An object with some of a route's own fields (each with one of its plausible values or anything at all)
    /// and, sometimes, strangers.
    /// </summary>
    public static Gen<JsonObject> ObjectWith(IReadOnlyDictionary<string, JsonNode?[]> fields)
    {
        var own = fields.Aggregate(Gen.Const(new List<(string, JsonNode?)>()), (list, field) => Gen.Select(list, Gen.Frequency(
                (1, Gen.Const((JsonNode?)null).Select(_ => (Present: false, Value: (JsonNode?)null))),
                (6, Gen.OneOf(field.Value).Select(v => (Present: true, Value: v?.DeepClone()))),
                (1, Value().Select(v => (Present: true, Value: v)))),
            (l, f) => f.Present ? [.. l, (field.Key, f.Value)] : l));
        return Gen.Select(own, Gen.Select(Text, Value()).Array[0, 2], (mine, strangers) => ObjectOf([.. mine, .. strangers]));
    }

    /// <summary>The JSON text of <paramref name="json"/>, or that text broken as bytes.</summary>
    public static Gen<byte[]> Body(Gen<JsonObject> json) => Gen.Frequency(
        (6, json.Select(o => Encoding.UTF8.GetBytes(o.ToJsonString()))),
        (3, json.Select(o => Encoding.UTF8.GetBytes(o.ToJsonString())).SelectMany(Broken)),
        (1, Gen.Byte.Array[0, 200]));

    /// <summary><paramref name="original"/> broken: truncated, bytes changed, invalid UTF-8 or a token inserted.</summary>
    public static Gen<byte[]> Broken(byte[] original) => Gen.Frequency(
        (1, Gen.Int[0, Math.Max(0, original.Length - 1)].Select(cut => original[..cut])),
        (2, Gen.Select(Gen.Int[0, Math.Max(0, original.Length - 1)], Gen.Byte).Array[1, 4].Select(flips =>
        {
            var copy = (byte[])original.Clone();
            foreach (var (at, value) in flips)
            {
                if (copy.Length > 0)
                {
                    copy[at] = value;
                }
            }
            return copy;
        })),
        (1, Gen.Select(Gen.Int[0, original.Length], Gen.OneOf<byte[]>([0xC3, 0x28], [0xFF, 0xFE], [0xED, 0xA0, 0x80], "\"\",{}[]:"u8.ToArray(), "\\u00"u8.ToArray(), "\\ud83d"u8.ToArray()))
            .Select(insert => (byte[])[.. original[..insert.Item1], .. insert.Item2, .. original[insert.Item1..]])));

    private static JsonObject ObjectOf(IEnumerable<(string Name, JsonNode? Value)> pairs)
    {
        var json = new JsonObject();
        foreach (var (name, value) in pairs)
        {
            json[name] = value; // a repeated name keeps the last value
        }
        return json;
    }
}
