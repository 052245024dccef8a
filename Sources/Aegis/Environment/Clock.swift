/// Time as one node sees it. Engine code never reads the system clock; it asks this.
///
/// - `monotonicNanoseconds` only moves forward, from an arbitrary origin (the process
///   start). Use it for timeouts and durations.
/// - `wallNanosecondsSinceEpoch` is the node's idea of Unix time. It may be skewed
///   against other nodes, drift, and jump in either direction; use it only where a
///   hybrid logical clock needs physical time, never for ordering on its own.
public protocol Clock: AnyObject {
    var monotonicNanoseconds: UInt64 { get }
    var wallNanosecondsSinceEpoch: Int64 { get }
}

public enum Nanoseconds {
    public static let perMicrosecond: UInt64 = 1_000
    public static let perMillisecond: UInt64 = 1_000_000
    public static let perSecond: UInt64 = 1_000_000_000
}
