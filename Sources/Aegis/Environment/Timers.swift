/// A timer armed by a node. Ids are unique per node incarnation and never reused.
public struct TimerID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: TimerID, rhs: TimerID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String { "t\(rawValue)" }
}

/// One-shot timers measured on the node's monotonic clock. When a timer expires the
/// node receives `NodeEvent.timer(id)`; a cancelled timer never fires.
public protocol Timers: AnyObject {
    func arm(afterNanoseconds delay: UInt64) -> TimerID
    func cancel(_ timer: TimerID)
}
