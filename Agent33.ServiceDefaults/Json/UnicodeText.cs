using System.Runtime.InteropServices;
using System.Text.Json;

namespace Agent33.ServiceDefaults.Json;

/// <summary>
/// JSON's grammar allows a <c>\u</c> escape of half a surrogate pair (<c>"\ud83d"</c> alone), which is not Unicode
/// text: System.Text.Json parses such a document and throws only when a string is read. A service that keeps a
/// JSON value to read later checks it here once, at its edge, instead of failing deep inside as a 500.
/// </summary>
public static class UnicodeText
{
    /// <summary>Whether every string and property name in <paramref name="json"/> is Unicode text.</summary>
    public static bool IsUnicode(JsonElement json)
    {
        // Half a pair can only be written as an escape: most values are cleared by one scan of their bytes.
        var raw = JsonMarshal.GetRawUtf8Value(json);
        if (raw.IndexOf("\\ud"u8) < 0 && raw.IndexOf("\\uD"u8) < 0)
        {
            return true;
        }
        try
        {
            return ReadsAsText(json);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool ReadsAsText(JsonElement json) => json.ValueKind switch
    {
        JsonValueKind.String => json.GetString() is not null,
        JsonValueKind.Object => json.EnumerateObject().All(p => p.Name is not null && ReadsAsText(p.Value)),
        JsonValueKind.Array => json.EnumerateArray().All(ReadsAsText),
        _ => true,
    };
}
