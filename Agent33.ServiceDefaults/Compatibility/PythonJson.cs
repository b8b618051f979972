using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Agent33.ServiceDefaults.Compatibility;

/// <summary>
/// Renders JSON exactly as the reference engine's Python <c>json.dumps(..., sort_keys=True)</c> does, where
/// our answers depend on that text byte for byte: the learning backup checksum (compact separators,
/// ASCII only) and the routing heuristic, which measures and searches the inputs as
/// <c>json.dumps(inputs, sort_keys=True, ensure_ascii=False)</c> renders them.
/// </summary>
public static class PythonJson
{
    /// <summary>The order of <c>sort_keys=True</c>: by code point.</summary>
    public static IComparer<string> KeyOrder => CodePointComparer.Instance;

    /// <summary>Writes <paramref name="value"/> canonically (sorted keys, compact separators).</summary>
    public static void WriteCanonical(JsonElement value, IBufferWriter<byte> output)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                Write(output, "{");
                var first = true;
                foreach (var property in SortedProperties(value))
                {
                    if (!first)
                    {
                        Write(output, ",");
                    }
                    first = false;
                    WriteString(property.Name, output);
                    Write(output, ":");
                    WriteCanonical(property.Value, output);
                }
                Write(output, "}");
                break;
            case JsonValueKind.Array:
                Write(output, "[");
                var firstItem = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!firstItem)
                    {
                        Write(output, ",");
                    }
                    firstItem = false;
                    WriteCanonical(item, output);
                }
                Write(output, "]");
                break;
            case JsonValueKind.String:
                WriteString(value.GetString()!, output);
                break;
            case JsonValueKind.Number:
                WriteNumber(value.GetRawText(), output);
                break;
            case JsonValueKind.True:
                Write(output, "true");
                break;
            case JsonValueKind.False:
                Write(output, "false");
                break;
            default:
                Write(output, "null");
                break;
        }
    }

    /// <summary>A JSON string as Python's <c>ensure_ascii=True</c> escapes it.</summary>
    public static void WriteString(string value, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(value.Length * 6 + 2);
        var n = 0;
        span[n++] = (byte)'"';
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': span[n++] = (byte)'\\'; span[n++] = (byte)'"'; break;
                case '\\': span[n++] = (byte)'\\'; span[n++] = (byte)'\\'; break;
                case '\n': span[n++] = (byte)'\\'; span[n++] = (byte)'n'; break;
                case '\r': span[n++] = (byte)'\\'; span[n++] = (byte)'r'; break;
                case '\t': span[n++] = (byte)'\\'; span[n++] = (byte)'t'; break;
                case '\b': span[n++] = (byte)'\\'; span[n++] = (byte)'b'; break;
                case '\f': span[n++] = (byte)'\\'; span[n++] = (byte)'f'; break;
                default:
                    if (c is >= ' ' and <= '~')
                    {
                        span[n++] = (byte)c;
                    }
                    else
                    {
                        // UTF-16 code units are exactly what Python escapes (surrogate pairs as two \u escapes).
                        span[n++] = (byte)'\\';
                        span[n++] = (byte)'u';
                        ((int)c).TryFormat(span[n..], out var written, "x4", CultureInfo.InvariantCulture);
                        n += written;
                    }
                    break;
            }
        }
        span[n++] = (byte)'"';
        output.Advance(n);
    }

    /// <summary>
    /// A number token as Python re-renders it after <c>json.loads</c>: integers stay integers, anything
    /// with a fraction or exponent becomes a float and is printed with <c>repr</c>.
    /// </summary>
    public static void WriteNumber(string token, IBufferWriter<byte> output) => Write(output, NumberText(token));

    /// <summary>
    /// Python's <c>repr(float)</c>: the shortest digits that round-trip, in fixed notation when the decimal
    /// exponent is in [-4, 16), otherwise scientific with a signed, at least two-digit exponent.
    /// </summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }
        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }
        if (value == 0)
        {
            return double.IsNegative(value) ? "-0.0" : "0.0";
        }

        // "R" gives the shortest round-trip digits, as Python does, but formats them differently.
        var (digits, exponent) = DigitsAndExponent(Math.Abs(value).ToString("R", CultureInfo.InvariantCulture));
        var sign = value < 0 ? "-" : "";
        var decimalPoint = exponent + 1; // digits d1 d2 ... with the point after position decimalPoint

        if (decimalPoint is > -4 and <= 16)
        {
            if (decimalPoint <= 0)
            {
                return $"{sign}0.{new string('0', -decimalPoint)}{digits}";
            }
            if (decimalPoint >= digits.Length)
            {
                return $"{sign}{digits}{new string('0', decimalPoint - digits.Length)}.0";
            }
            return $"{sign}{digits[..decimalPoint]}.{digits[decimalPoint..]}";
        }

        var mantissa = digits.Length == 1 ? digits : $"{digits[0]}.{digits[1..]}";
        var expSign = exponent < 0 ? "-" : "+";
        return $"{sign}{mantissa}e{expSign}{Math.Abs(exponent):00}";
    }

    /// <summary>Splits .NET's round-trip text ("1.5E-05", "123.45") into significant digits and the exponent of the first digit.</summary>
    private static (string Digits, int Exponent) DigitsAndExponent(string roundTrip)
    {
        var exponent = 0;
        var mantissa = roundTrip;
        var e = roundTrip.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(roundTrip[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = roundTrip[..e];
        }
        var point = mantissa.IndexOf('.');
        var integerPart = point < 0 ? mantissa : mantissa[..point];
        var fraction = point < 0 ? "" : mantissa[(point + 1)..];
        var all = integerPart + fraction;
        var leadingZeros = all.Length - all.TrimStart('0').Length;
        var digits = all.Trim('0');
        if (digits.Length == 0)
        {
            return ("0", 0);
        }
        // Exponent of the first significant digit: position relative to the decimal point.
        var firstDigitExponent = integerPart.Length - 1 - leadingZeros + exponent;
        return (digits, firstDigitExponent);
    }

    /// <summary>
    /// Appends <paramref name="value"/> as <c>json.dumps(value, sort_keys=True, ensure_ascii=False)</c> would:
    /// separators <c>", "</c> and <c>": "</c>, non-ASCII characters kept, control characters escaped.
    /// </summary>
    public static void AppendDumps(JsonElement value, StringBuilder output)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                output.Append('{');
                var first = true;
                foreach (var property in SortedProperties(value))
                {
                    if (!first)
                    {
                        output.Append(", ");
                    }
                    first = false;
                    AppendString(property.Name, output);
                    output.Append(": ");
                    AppendDumps(property.Value, output);
                }
                output.Append('}');
                break;
            case JsonValueKind.Array:
                output.Append('[');
                var firstItem = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!firstItem)
                    {
                        output.Append(", ");
                    }
                    firstItem = false;
                    AppendDumps(item, output);
                }
                output.Append(']');
                break;
            case JsonValueKind.String:
                AppendString(value.GetString()!, output);
                break;
            case JsonValueKind.Number:
                output.Append(NumberText(value.GetRawText()));
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            default:
                output.Append("null");
                break;
        }
    }

    /// <summary>A string as <c>ensure_ascii=False</c> escapes it: only quotes, backslashes and control characters.</summary>
    private static void AppendString(string value, StringBuilder output)
    {
        output.Append('"');
        var start = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c >= ' ' && c != '"' && c != '\\')
            {
                continue;
            }
            output.Append(value, start, i - start);
            start = i + 1;
            switch (c)
            {
                case '"': output.Append("\\\""); break;
                case '\\': output.Append("\\\\"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                default: output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
            }
        }
        output.Append(value, start, value.Length - start);
        output.Append('"');
    }

    private static IEnumerable<JsonProperty> SortedProperties(JsonElement value)
    {
        var properties = value.EnumerateObject().ToArray();
        Array.Sort(properties, (a, b) => KeyOrder.Compare(a.Name, b.Name));
        return properties;
    }

    /// <summary>A number token as Python re-renders it after <c>json.loads</c>.</summary>
    private static string NumberText(string token) =>
        token.AsSpan().IndexOfAny('.', 'e', 'E') < 0
            ? (token == "-0" ? "0" : token)
            : FloatRepr(double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture));

    /// <summary>A timestamp as the reference's JSON dump writes it: microseconds, dropped when zero, and "Z".</summary>
    public static string Timestamp(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        var micros = (utc.Ticks % TimeSpan.TicksPerSecond) / 10;
        return micros == 0
            ? utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : utc.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
    }

    private static void Write(IBufferWriter<byte> output, string ascii)
    {
        var span = output.GetSpan(ascii.Length);
        var written = Encoding.ASCII.GetBytes(ascii, span);
        output.Advance(written);
    }

    /// <summary>Python sorts str keys by code point; .NET's ordinal compare is by UTF-16 unit, which differs above U+FFFF.</summary>
    private sealed class CodePointComparer : IComparer<string>
    {
        public static readonly CodePointComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = (x ?? "").EnumerateRunes().GetEnumerator();
            var b = (y ?? "").EnumerateRunes().GetEnumerator();
            while (true)
            {
                var hasA = a.MoveNext();
                var hasB = b.MoveNext();
                if (!hasA || !hasB)
                {
                    return hasA.CompareTo(hasB);
                }
                var diff = a.Current.Value.CompareTo(b.Current.Value);
                if (diff != 0)
                {
                    return diff;
                }
            }
        }
    }
}
