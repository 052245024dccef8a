/// A hybrid logical clock timestamp (Kulkarni et al., "Logical Physical Clocks"): wall
/// nanoseconds since the epoch, and a counter that orders events within one wall
/// reading. Compared as (wall, logical). Transactions commit at one; versions carry it.
public struct HybridTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var wallNanoseconds: Int64
    public var logical: UInt32

    public init(wallNanoseconds: Int64, logical: UInt32 = 0) {
        self.wallNanoseconds = wallNanoseconds
        self.logical = logical
    }

    public static let zero = HybridTimestamp(wallNanoseconds: 0)

    public static func < (lhs: HybridTimestamp, rhs: HybridTimestamp) -> Bool {
        (lhs.wallNanoseconds, lhs.logical) < (rhs.wallNanoseconds, rhs.logical)
    }

    /// The smallest timestamp after this one.
    public var next: HybridTimestamp {
        logical == UInt32.max ? HybridTimestamp(wallNanoseconds: wallNanoseconds + 1)
            : HybridTimestamp(wallNanoseconds: wallNanoseconds, logical: logical + 1)
    }

    public var description: String { "\(wallNanoseconds).\(logical)" }

    public func encode(into writer: inout ByteWriter) {
        writer.write(wallNanoseconds)
        writer.write(UInt64(logical))
    }

    public static func decode(from reader: inout ByteReader) throws(DecodeError) -> HybridTimestamp {
        let wall = try reader.readInt64()
        let logical = try reader.readUInt64()
        guard logical <= UInt64(UInt32.max) else { throw .invalid("logical clock \(logical) out of range") }
        return HybridTimestamp(wallNanoseconds: wall, logical: UInt32(logical))
    }
}

/// One node's hybrid logical clock. `now()` never goes backwards, even when the wall
/// clock does (skew, jumps), and `observe(_:)` folds in a timestamp from another node,
/// so that an event that follows one elsewhere always gets a later timestamp. Nothing
/// about safety rests on the clocks being close: they only order versions.
public final class HybridLogicalClock {
    private let clock: any Clock
    public private(set) var latest = HybridTimestamp.zero

    public init(clock: any Clock) {
        self.clock = clock
    }

    /// A timestamp after every one this clock has handed out or observed.
    public func now() -> HybridTimestamp {
        let wall = clock.wallNanosecondsSinceEpoch
        latest = wall > latest.wallNanoseconds ? HybridTimestamp(wallNanoseconds: wall) : latest.next
        return latest
    }

    /// Folds in a timestamp seen in a message or a log entry.
    public func observe(_ timestamp: HybridTimestamp) {
        if timestamp > latest { latest = timestamp }
    }
}
