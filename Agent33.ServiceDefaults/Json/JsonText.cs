using System.Runtime.InteropServices;
using System.Text.Json;

namespace Agent33.ServiceDefaults.Json;

/// <summary>The text inside a JSON value: its string values and property names.</summary>
public static class JsonText
{
    /// <summary>Every string value and property name in <paramref name="json"/>, depth first.</summary>
    public static IEnumerable<string> Strings(JsonElement json)
    {
        switch (json.ValueKind)
        {
            case JsonValueKind.String:
                yield return json.GetString()!;
                break;
            case JsonValueKind.Object:
                foreach (var property in json.EnumerateObject())
                {
                    yield return property.Name;
                    foreach (var text in Strings(property.Value))
                    {
                        yield return text;
                    }
                }
                break;
            case JsonValueKind.Array:
                foreach (var text in json.EnumerateArray().SelectMany(Strings))
                {
                    yield return text;
                }
                break;
        }
    }

    /// <summary>
    /// Whether every string and name in <paramref name="json"/> is Unicode text. JSON's grammar allows a <c>\u</c>
    /// escape of half a surrogate pair (<c>"\ud83d"</c> alone), which is not: System.Text.Json parses such a
    /// document and throws only when the string is read. A service that keeps a JSON value to read later checks
    /// it here once, at its edge, instead of failing deep inside as a 500.
    /// </summary>
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
            foreach (var _ in Strings(json))
            {
            }
            return true;
        }
        catch (InvalidOperationException) // reading half a surrogate pair
        {
            return false;
        }
    }
}
