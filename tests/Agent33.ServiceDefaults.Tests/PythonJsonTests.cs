using System.Buffers;
using System.Text;
using System.Text.Json;
using Agent33.ServiceDefaults.Compatibility;

namespace Agent33.ServiceDefaults.Tests;

public sealed class PythonJsonTests
{
    [Theory]
    [InlineData(0.827, "0.827")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1.5e-07, "1.5e-07")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e22, "1e+22")]
    [InlineData(12345678901234567890.0, "1.2345678901234567e+19")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.30000000000000004, "0.30000000000000004")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.0, "0.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(123.456, "123.456")]
    public void Floats_render_like_python_repr(double value, string expected) =>
        Assert.Equal(expected, PythonJson.FloatRepr(value));

    [Fact]
    public void Canonical_rendering_sorts_keys_escapes_non_ascii_and_keeps_integers()
    {
        var element = JsonDocument.Parse("""{"b": 1, "a": [1.0, 2, -0, 1E5, "Ünï🚀\u007f\n\"q\""], "é": null, "A": true}""").RootElement;
        var output = new ArrayBufferWriter<byte>();
        PythonJson.WriteCanonical(element, output);
        Assert.Equal("""{"A":true,"a":[1.0,2,0,100000.0,"\u00dcn\u00ef\ud83d\ude80\u007f\n\"q\""],"b":1,"\u00e9":null}""",
            Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Keys_sort_by_code_point_not_utf16_unit()
    {
        // U+FB01 sorts after U+1F680 in UTF-16 units but before it by code point, as Python sorts.
        var element = JsonDocument.Parse("{\"\uFB01\": 1, \"\U0001F680\": 2}").RootElement;
        var output = new ArrayBufferWriter<byte>();
        PythonJson.WriteCanonical(element, output);
        Assert.Equal("""{"\ufb01":1,"\ud83d\ude80":2}""", Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Theory]
    [InlineData(0, "2026-11-13T02:38:37Z")]
    [InlineData(8838180, "2026-11-13T02:38:37.883818Z")]
    [InlineData(10, "2026-11-13T02:38:37.000001Z")]
    public void Timestamps_render_like_the_reference_dump(long ticks, string expected) =>
        Assert.Equal(expected, PythonJson.Timestamp(new DateTimeOffset(2026, 11, 13, 2, 38, 37, TimeSpan.Zero).AddTicks(ticks)));

    [Fact]
    public void Dumps_matches_python_with_default_separators_and_non_ascii_kept()
    {
        var element = JsonDocument.Parse("""{"b": [1, 2.5, 1e-7, true, null], "a": "Ünï 🚀 \"q\" \n\u0001", "ﬁ": {"z": -0, "y": 1E3}}""").RootElement;
        var output = new StringBuilder();
        PythonJson.AppendDumps(element, output);
        Assert.Equal("""{"a": "Ünï 🚀 \"q\" \n\u0001", "b": [1, 2.5, 1e-07, true, null], "ﬁ": {"y": 1000.0, "z": 0}}""", output.ToString());
    }
}
