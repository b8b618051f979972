using System.Text.Json;
using Agent33.ServiceDefaults.Json;

namespace Agent33.ServiceDefaults.Tests;

public sealed class JsonTextTests
{
    [Theory]
    [InlineData("""{"prompt": "plain"}""", true)]
    [InlineData("""{"prompt": "a whole emoji \ud83d\ude00 and \u00fc"}""", true)]
    [InlineData("""{"prompt": "an escaped backslash, then text: \\ud83d"}""", true)]
    [InlineData("""[1, null, {"deep": ["\uD83D\uDE00"]}]""", true)]
    [InlineData("""{"prompt": "half an emoji \ud83d"}""", false)]
    [InlineData("""{"prompt": "a low half first \ude00\ud83d"}""", false)]
    [InlineData("""{"deep": [1, {"x": "\uDC00"}]}""", false)]
    [InlineData("""{"\ud800": "in a name"}""", false)]
    public void Half_a_surrogate_pair_anywhere_is_not_unicode_text(string json, bool expected)
    {
        using var document = JsonDocument.Parse(json);
        Assert.Equal(expected, JsonText.IsUnicode(document.RootElement));
    }
}
