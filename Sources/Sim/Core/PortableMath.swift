/// Math that gives the same bits on every machine. The platform's `log` comes from
/// libm, whose last-bit rounding differs between versions; a trace recorded on one
/// machine must replay on another, so the simulator uses only IEEE-exact operations.
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
}
