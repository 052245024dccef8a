/// Math that gives the same bits on every machine. The platform's `log` and `exp` come
/// from libm, whose last-bit rounding differs between versions; a trace recorded on one
/// machine must replay on another, and every replica must evaluate SQL to the same
/// bits, so the simulator and the SQL engine use only IEEE-exact operations.
public enum PortableMath {
    private static let ln2 = 0.693_147_180_559_945_3

    private static let squareRootOfTwo = 1.414_213_562_373_095_1

    /// ln(x) for x > 0: split x = m · 2^e with m in [√½, √2), then
    /// ln(m) = 2·atanh((m−1)/(m+1)) by its series; |z| < 0.172, so 13 terms are exact
    /// to double precision.
    public static func naturalLog(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "naturalLog needs a positive finite argument")
        var exponent = Double(x.exponent)
        var mantissa = x.significand
        if mantissa >= squareRootOfTwo {
            mantissa /= 2
            exponent += 1
        }
        let z = (mantissa - 1) / (mantissa + 1)
        let zSquared = z * z
        var term = z
        var sum = 0.0
        var denominator = 1.0
        for _ in 0..<13 {
            sum += term / denominator
            term *= zSquared
            denominator += 2
        }
        return 2 * sum + exponent * ln2
    }

    /// e^x for finite x in the double range: x = k·ln2 + r with |r| ≤ ln2/2, a Taylor
    /// series for e^r (30 terms: exact to double precision), scaled by 2^k.
    public static func exponential(_ x: Double) -> Double {
        precondition(x.isFinite, "exponential needs a finite argument")
        if x > 709.8 { return .infinity }
        if x < -745.2 { return 0 }
        let k = (x / ln2).rounded()
        let r = x - k * ln2
        var term = 1.0
        var sum = 1.0
        var n = 1.0
        while n < 30 {
            term *= r / n
            sum += term
            n += 1
        }
        return Double(sign: .plus, exponent: Int(k), significand: sum)
    }
}
