/// Logarithm and exponential from basic IEEE operations only (no libm), so that SQL
/// evaluated on different machines — every replica applies the same statements — gives
/// bit-identical results.
enum SQLMath {
    static let ln2 = 0.6931471805599453094172321

    /// Natural logarithm: x = m·2^e with m in [1, 2), then log m = 2·atanh((m−1)/(m+1)).
    static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return .infinity }
        var exponent = Double(x.exponent)
        var m = x.significand
        if m > 1.4142135623730951 {
            m /= 2
            exponent += 1
        }
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        var k = 1.0
        while k < 60 {
            sum += term / k
            term *= s2
            k += 2
        }
        return 2 * sum + exponent * ln2
    }

    /// e^x: x = k·ln2 + r with |r| ≤ ln2/2, then a Taylor series for e^r, scaled by 2^k.
    static func exp(_ x: Double) -> Double {
        if x.isNaN { return .nan }
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
