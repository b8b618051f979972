using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Agent33.Learning.Backup;

/// <summary>
/// What the quarantine keeps of a record or payload it could not import: the beginning of its text (at most
/// <see cref="ExcerptBytes"/> of UTF-8, cut at a character boundary), and the SHA-256 and size of the whole, so
/// a payload of any size is identified exactly while the row stays small enough to list, read and delete.
/// </summary>
public sealed record QuarantinedPayload(string Excerpt, string Sha256, long Bytes, bool Truncated)
{
    public const int ExcerptBytes = 64 * 1024;

    /// <summary>A record as it was written in the payload (its raw JSON).</summary>
    public static QuarantinedPayload FromJson(JsonElement json) => FromBytes(JsonMarshal.GetRawUtf8Value(json));

    public static QuarantinedPayload FromBytes(ReadOnlySpan<byte> whole) =>
        new(ExcerptOf(whole), Convert.ToHexStringLower(SHA256.HashData(whole)), whole.Length, whole.Length > ExcerptBytes);

    /// <summary>Something read past: its first bytes (at least <see cref="ExcerptBytes"/> when it was that long), its hash and size.</summary>
    public static QuarantinedPayload FromPrefix(ReadOnlySpan<byte> prefix, string sha256, long bytes) =>
        new(ExcerptOf(prefix), sha256, bytes, bytes > ExcerptBytes);

    /// <summary>A whole payload, read from the start of a seekable stream in constant memory.</summary>
    public static async Task<QuarantinedPayload> FromStreamAsync(Stream payload, CancellationToken cancellationToken)
    {
        payload.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var prefix = new ArrayBufferWriter<byte>(ExcerptBytes + 4);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long total = 0;
            int read;
            while ((read = await payload.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                var keep = (int)Math.Min(read, Math.Max(0, ExcerptBytes + 4 - prefix.WrittenCount));
                prefix.Write(buffer.AsSpan(0, keep));
                total += read;
            }
            return FromPrefix(prefix.WrittenSpan, Convert.ToHexStringLower(hash.GetHashAndReset()), total);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The text of the first <see cref="ExcerptBytes"/> bytes: a character cut in two is left out, bytes that are not
    /// UTF-8 show as U+FFFD, and so does U+0000, which a Postgres text column cannot hold (the hash is of the original).
    /// </summary>
    private static string ExcerptOf(ReadOnlySpan<byte> bytes)
    {
        var head = bytes[..Math.Min(bytes.Length, ExcerptBytes)];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(head.Length)];
        // flush: false keeps a character cut at the end back instead of turning it into U+FFFD.
        var count = decoder.GetChars(head, chars, flush: bytes.Length <= ExcerptBytes);
        return new string(chars, 0, count).Replace('\0', '\uFFFD');
    }
}
