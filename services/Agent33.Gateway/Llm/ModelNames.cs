using System.Globalization;
using System.Text;

namespace Agent33.Gateway.Llm;

/// <summary>
/// What a model name may be: printable, at most <see cref="MaxLength"/> characters, no whitespace or control
/// characters. A model name travels upstream in bodies and headers and into metrics; judged before anything else.
/// </summary>
public static class ModelNames
{
    public const int MaxLength = 200;

    public static bool IsValid(string name)
    {
        if (name.Length is 0 or > MaxLength)
        {
            return false;
        }
        foreach (var rune in name.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(rune) || Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
                    or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
                    or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator)
            {
                return false;
            }
        }
        return true;
    }
}
