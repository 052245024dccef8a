/// A Raft term: a logical epoch with at most one leader. Terms only grow.
public struct Term: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static let zero = Term(0)
    /// Stands for a term that could not be read back (see `HardState.repairFloorTerm`).
    public static let unknown = Term(UInt64.max)

    public var next: Term { Term(rawValue + 1) }

    public static func < (lhs: Term, rhs: Term) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String { "t\(rawValue)" }
}

/// A position in a replicated log; the first entry has index 1 and 0 means "none".
public struct LogIndex: RawRepresentable, Hashable, Comparable, Strideable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static let zero = LogIndex(0)

    public var next: LogIndex { LogIndex(rawValue + 1) }
    public var previous: LogIndex {
        precondition(rawValue > 0, "index 0 has no predecessor")
        return LogIndex(rawValue - 1)
    }

    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public func distance(to other: LogIndex) -> Int64 {
        Int64(bitPattern: other.rawValue &- rawValue)
    }

    public func advanced(by n: Int64) -> LogIndex {
        LogIndex(UInt64(bitPattern: Int64(bitPattern: rawValue) &+ n))
    }

    public var description: String { "#\(rawValue)" }
}
