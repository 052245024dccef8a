import Aegis

/// One node's view of time. Every node shares the simulator's global time, seen
/// through its own drift (a rate error in parts per million), a fixed skew of its wall
/// clock, and wall-clock jumps. The monotonic clock drifts but never jumps or goes back.
struct SimClockModel {
    /// 2026-01-01T00:00:00Z: wall clocks start here so they look like real Unix time.
    static let epochNanoseconds: Int64 = 1_767_225_600 * 1_000_000_000

    var skewNanoseconds: Int64 = 0
    var driftPartsPerMillion: Int64 = 0
    var jumpedNanoseconds: Int64 = 0

    private var rate: UInt64 { UInt64(1_000_000 + driftPartsPerMillion) }

    /// Global nanoseconds as this node's oscillator counts them.
    func localElapsed(globalNanoseconds: UInt64) -> UInt64 {
        (globalNanoseconds / 1_000_000) * rate + (globalNanoseconds % 1_000_000) * rate / 1_000_000
    }

    /// How much global time passes while this node's clock advances `localNanoseconds`.
    func globalDuration(localNanoseconds: UInt64) -> UInt64 {
        let whole = (localNanoseconds / rate) * 1_000_000
        let part = (localNanoseconds % rate) * 1_000_000 / rate
        return max(1, whole + part)
    }

    func wallNanoseconds(globalNanoseconds: UInt64) -> Int64 {
        SimClockModel.epochNanoseconds + Int64(localElapsed(globalNanoseconds: globalNanoseconds))
            + skewNanoseconds + jumpedNanoseconds
    }
}
