import Aegis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real clock of a Linux process: CLOCK_MONOTONIC for durations and timeouts,
/// CLOCK_REALTIME for wall time. This is the runtime's side of the `Clock` door.
public final class SystemClock: Clock {
    public init() {}

    public var monotonicNanoseconds: UInt64 {
        var spec = timespec()
        let status = clock_gettime(CLOCK_MONOTONIC, &spec)
        precondition(status == 0, "CLOCK_MONOTONIC is unavailable")
        return UInt64(spec.tv_sec) * Nanoseconds.perSecond + UInt64(spec.tv_nsec)
    }

    public var wallNanosecondsSinceEpoch: Int64 {
        var spec = timespec()
        let status = clock_gettime(CLOCK_REALTIME, &spec)
        precondition(status == 0, "CLOCK_REALTIME is unavailable")
        return Int64(spec.tv_sec) * Int64(Nanoseconds.perSecond) + Int64(spec.tv_nsec)
    }
}
