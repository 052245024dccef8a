/// The node's only source of randomness: seeded by whoever opens the door (the
/// simulator derives it from the run's seed), so a run can be replayed exactly.
public protocol Entropy: AnyObject {
    func nextUInt64() -> UInt64
}

extension Entropy {
    /// A uniform integer in `0..<bound`, without modulo bias (Lemire's method).
    public func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "uniform(below:) needs a positive bound")
        var product = nextUInt64().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = nextUInt64().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }

    /// A uniform integer in the closed range.
    public func uniform(in range: ClosedRange<UInt64>) -> UInt64 {
        let width = range.upperBound - range.lowerBound
        if width == UInt64.max {
            return nextUInt64()
        }
        return range.lowerBound + uniform(below: width + 1)
    }

    /// True with probability `numerator / denominator`.
    public func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        precondition(numerator <= denominator, "a probability above one")
        return uniform(below: denominator) < numerator
    }
}
