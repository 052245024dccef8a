import Aegis

/// xoshiro256** seeded through SplitMix64: fast, small state, and the same sequence
/// on every machine. Each subsystem gets its own generator derived from the run's root
/// seed and a stable name, so adding a node or a fault does not shift unrelated draws.
public final class SeededRandom: Entropy {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            return StableHash64.avalanche(splitMix)
        }
        s0 = nextSplitMix()
        s1 = nextSplitMix()
        s2 = nextSplitMix()
        s3 = nextSplitMix()
    }

    /// An independent generator for `subsystem`, e.g. "network.link.1.2" or "disk.3".
    public static func derive(root: UInt64, subsystem: String) -> SeededRandom {
        var hash = StableHash64(seed: root)
        hash.combine(subsystem)
        return SeededRandom(seed: hash.value)
    }

    public func nextUInt64() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A double uniform in [0, 1) with 53 random bits.
    public func unitInterval() -> Double {
        Double(nextUInt64() >> 11) * 0x1p-53
    }

    /// True with probability `probability` (0 never, 1 always).
    public func happens(_ probability: Double) -> Bool {
        if probability <= 0 { return false }
        if probability >= 1 { return true }
        return unitInterval() < probability
    }

    /// A double uniform in the closed range.
    public func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unitInterval()
    }

    /// An integer uniform in the closed range.
    public func uniform(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound)
        let offset = width == UInt64.max ? nextUInt64() : uniform(below: width + 1)
        return range.lowerBound + Int(offset)
    }

    /// An exponentially distributed value with the given mean.
    public func exponential(mean: Double) -> Double {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        -mean * PortableMath.naturalLog(1 - unitInterval())
    }
}
