/// A 64-bit hash that is identical in every process and on every machine: FNV-1a over
/// the input with a final avalanche (from SplitMix64). Swift's `Hasher` is seeded per
/// process and must never reach output; this is what traces and digests use instead.
public struct StableHash64: Sendable, Equatable {
    private static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    private var state: UInt64

    public init(seed: UInt64 = 0) {
        state = StableHash64.offsetBasis ^ seed
    }

    public mutating func combine<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            state = (state ^ UInt64(byte)) &* StableHash64.prime
        }
    }

    public mutating func combine(_ value: UInt64) {
        var remaining = value
        for _ in 0..<8 {
            state = (state ^ (remaining & 0xFF)) &* StableHash64.prime
            remaining >>= 8
        }
    }

    public mutating func combine(_ text: String) {
        combine(bytes: text.utf8)
        combine(UInt64(text.utf8.count))
    }

    public var value: UInt64 { StableHash64.avalanche(state) }

    /// SplitMix64's finaliser: every input bit affects every output bit.
    public static func avalanche(_ input: UInt64) -> UInt64 {
        var z = input
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public static func digest<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash = StableHash64()
        hash.combine(bytes: bytes)
        return hash.value
    }

    public static func digest(_ text: String) -> UInt64 {
        var hash = StableHash64()
        hash.combine(text)
        return hash.value
    }
}

extension UInt64 {
    /// Sixteen lower-case hex digits, zero padded: the form digests take in traces.
    public var hex16: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
