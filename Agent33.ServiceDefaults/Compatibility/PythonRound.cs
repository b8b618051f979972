using System.Globalization;
using System.Numerics;

namespace Agent33.ServiceDefaults.Compatibility;

/// <summary>
/// Python's <c>round(x, digits)</c>: half-to-even on the exact binary value of <paramref name="value"/>,
/// then the nearest double. <c>Math.Round</c> scales first and can land on the other side of a tie, which
/// would put a flat-rate cost one millionth away from the reference's.
/// </summary>
public static class PythonRound
{
    public static double Round(double value, int digits)
    {
        if (value == 0 || double.IsNaN(value) || double.IsInfinity(value))
        {
            return value;
        }
        var bits = BitConverter.DoubleToInt64Bits(value);
        var negative = bits < 0;
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0)
        {
            exponent = 1; // subnormal
        }
        else
        {
            mantissa |= 1L << 52;
        }
        exponent -= 1075; // value = mantissa × 2^exponent
        if (exponent >= 0)
        {
            return value; // an integer: nothing to round
        }

        var scaled = new BigInteger(mantissa) * BigInteger.Pow(10, digits);
        var denominator = BigInteger.One << -exponent;
        var quotient = BigInteger.DivRem(scaled, denominator, out var remainder);
        var twice = remainder * 2;
        if (twice > denominator || (twice == denominator && !quotient.IsEven))
        {
            quotient += 1;
        }
        var result = double.Parse($"{quotient}E-{digits}", NumberStyles.Float, CultureInfo.InvariantCulture);
        return negative ? -result : result;
    }
}
