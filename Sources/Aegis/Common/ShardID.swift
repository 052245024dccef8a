/// The identity of one Raft group: shard 0 keeps the shard map (the meta group), data
/// shards count up from 1. A shard keeps its id for life: a split keeps it for the
/// left half and gives the right half a new one, and moving replicas changes nothing.
public struct ShardID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// The group that keeps the shard map.
    public static let meta = ShardID(0)

    public var isMeta: Bool { self == .meta }

    public static func < (lhs: ShardID, rhs: ShardID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String { isMeta ? "meta" : "s\(rawValue)" }
}
