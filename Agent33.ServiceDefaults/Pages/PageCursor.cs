using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace Agent33.ServiceDefaults.Pages;

/// <summary>
/// Where a page ends, in the order every list is read: newest first by time, then by key (each record's unique id).
/// The next page holds what sorts strictly after it, so a walk visits each record once even while newer ones arrive
/// (they sort before the walk's position) and never skips one that shares a timestamp with the page's last.
/// </summary>
public readonly record struct PageCursor(DateTimeOffset At, string Key)
{
    /// <summary>Opaque to callers: base64url of the time (UTC ticks, 8 bytes) and the key (UTF-8).</summary>
    public string Encode()
    {
        var key = Encoding.UTF8.GetBytes(Key);
        var bytes = new byte[8 + key.Length];
        BinaryPrimitives.WriteInt64BigEndian(bytes, At.UtcTicks);
        key.CopyTo(bytes, 8);
        return WebEncoders.Base64UrlEncode(bytes);
    }

    public static bool TryDecode(string text, out PageCursor cursor)
    {
        cursor = default;
        byte[] bytes;
        try
        {
            bytes = WebEncoders.Base64UrlDecode(text);
        }
        catch (FormatException)
        {
            return false;
        }
        if (bytes.Length is <= 8 or > 8 + 256)
        {
            return false;
        }
        var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }
        string key;
        try
        {
            key = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 8, bytes.Length - 8);
        }
        catch (ArgumentException)
        {
            return false;
        }
        if (key.Contains('\0'))
        {
            return false;
        }
        cursor = new PageCursor(new DateTimeOffset(ticks, TimeSpan.Zero), key);
        return true;
    }
}
