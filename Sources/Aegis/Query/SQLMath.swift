/// Logarithm and exponential for SQL: `PortableMath` (IEEE operations only, so every
/// replica computes the same bits) with SQL's edge cases around it.
enum SQLMath {
    static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return .infinity }
        return PortableMath.naturalLog(x)
    }

    static func exp(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        if x.isInfinite { return x > 0 ? .infinity : 0 }
        return PortableMath.exponential(x)
    }
}
