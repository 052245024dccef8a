import Aegis

/// One line of a register history, in the shape Jepsen tools use: a process invokes an
/// operation, and later the same process completes it as ok, fail (definitely did not
/// happen) or info (unknown).
public struct HistoryEvent: Sendable, Equatable {
    public enum EventType: String, Sendable {
        case invoke
        case ok
        case fail
        case info
    }

    public enum Function: String, Sendable {
        case read
        case write
        case cas
    }

    public enum Value: Sendable, Equatable {
        /// A read's result: nil when the key was absent. At invoke, always nil.
        case read(Int64?)
        case write(Int64)
        case cas(expected: Int64, new: Int64)
    }

    public var process: UInt32
    public var type: EventType
    public var function: Function
    public var key: Int
    public var value: Value
    public var timeNanoseconds: UInt64
    /// The request's sequence number, for resolving unknown outcomes.
    public var sequence: UInt64

    /// One JSON object per line: process, type, f, key, value, time (nanoseconds).
    public var jsonLine: String {
        let valueText: String
        switch value {
        case let .read(read): valueText = read.map(String.init) ?? "null"
        case let .write(written): valueText = String(written)
        case let .cas(expected, new): valueText = "[\(expected), \(new)]"
        }
        return "{\"process\": \(process), \"type\": \"\(type.rawValue)\", \"f\": \"\(function.rawValue)\", "
            + "\"key\": \(key), \"value\": \(valueText), \"time\": \(timeNanoseconds)}"
    }
}

/// Every client's events, in the order they happened.
public final class History {
    public private(set) var events: [HistoryEvent] = []

    public init() {}

    func record(_ event: HistoryEvent) {
        precondition(events.last.map { $0.timeNanoseconds <= event.timeNanoseconds } ?? true, "history goes back in time")
        events.append(event)
    }

    public var jsonLines: [String] { events.map(\.jsonLine) }
}
