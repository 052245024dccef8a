/// A 64-bit hash that is identical in every process and on every machine: input is
/// folded eight little-endian bytes at a time (multiply, rotate, multiply), with a
/// final avalanche from SplitMix64. Swift's `Hasher` is seeded per process and must
/// never reach output; this is what traces and digests use instead. Not for security.
public struct StableHash64: Sendable, Equatable {
    @usableFromInline static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    @usableFromInline static let multiplierA: UInt64 = 0x9E37_79B1_85EB_CA87
    @usableFromInline static let multiplierB: UInt64 = 0xC2B2_AE3D_27D4_EB4F

    @usableFromInline var state: UInt64

    public init(seed: UInt64 = 0) {
        state = StableHash64.offsetBasis ^ seed
    }

    @inlinable
    public mutating func combine<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            combine(buffer: UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            combine(buffer: Array(bytes))
        }
    }

    @inlinable
    mutating func combine(buffer: [UInt8]) {
        buffer.withUnsafeBytes { combine(buffer: $0) }
    }

    /// Folds whole words, then the tail bytes as one zero-padded word, then the length.
    @inlinable
    public mutating func combine(buffer: UnsafeRawBufferPointer) {
        let words = buffer.count / 8
        for index in 0..<words {
            fold(UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        for index in (words * 8)..<buffer.count {
            tail |= UInt64(buffer[index]) << shift
            shift += 8
        }
        fold(tail)
        fold(UInt64(buffer.count))
    }

    @inlinable
    mutating func fold(_ word: UInt64) {
        var mixed = word &* StableHash64.multiplierA
        mixed = (mixed << 31) | (mixed >> 33)
        state = (state ^ (mixed &* StableHash64.multiplierB))
        state = ((state << 27) | (state >> 37)) &* 5 &+ 0x52DC_E729
    }

    public mutating func combine(_ value: UInt64) {
        fold(value)
    }

    public mutating func combine(_ text: String) {
        var copy = text
        copy.withUTF8 { combine(buffer: UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public var value: UInt64 { StableHash64.avalanche(state) }

    /// SplitMix64's finaliser: every input bit affects every output bit.
    @inlinable
    public static func avalanche(_ input: UInt64) -> UInt64 {
        var z = input
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable
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
