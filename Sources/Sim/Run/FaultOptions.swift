import Aegis

/// The fault settings one seed runs with: every range of the scenario drawn once, and
/// under swarm testing each knob switched off with probability one half. Printed at
/// the start of every run and stored in its trace, so a person can read what a seed did.
public struct FaultOptions: Sendable {
    public struct ClockSetting: Sendable, Equatable {
        public var skewNanoseconds: Int64
        public var driftPartsPerMillion: Int64
    }

    var network = NetworkFaultRates()
    var disk = DiskFaultRates()
    var partitionsPerMinute = 0.0
    var partitionDuration = DrawRange.zero
    var clogsPerMinute = 0.0
    var clogDelay = DrawRange.zero
    var clogDuration = DrawRange.zero
    var leaderIsolationsPerMinute = 0.0
    var leaderIsolationDuration = DrawRange.zero
    var newLeaderIsolation = 0.0
    var crashesPerMinute = 0.0
    var powerFailuresPerMinute = 0.0
    var leaderCrashesPerMinute = 0.0
    var restartDelay = DrawRange.zero
    var pausesPerMinute = 0.0
    var pauseDuration = DrawRange.zero
    var jumpsPerMinute = 0.0
    var jump = DrawRange.zero
    /// Servers that stay down through the liveness phase.
    public var permanentFailures = 0
    public var clocks: [ClockSetting] = []
    /// What was drawn, in a fixed order, as text.
    public private(set) var listing: [(key: String, value: String)] = []

    /// Draws the options of `seed` for `scenario`. Each group draws from its own
    /// generator so that adding a knob to one group does not change the others.
    public init(scenario: Scenario, seed: UInt64) {
        let faults = scenario.faults
        var drawer = Drawer(seed: seed, swarm: faults.swarm)

        drawer.group("network")
        network.distribution = faults.network.latencyDistribution
        listing.append(("network.latency.distribution", faults.network.latencyDistribution.rawValue))
        network.latencyMinNanoseconds = drawer.duration("network.latency.min", faults.network.latencyMinNanoseconds, swarmable: false, into: &listing)
        network.latencyMeanNanoseconds = drawer.duration("network.latency.mean", faults.network.latencyMeanNanoseconds, swarmable: false, into: &listing)
        network.latencyMaxNanoseconds = drawer.duration("network.latency.max", faults.network.latencyMaxNanoseconds, swarmable: false, into: &listing)
        network.loss = drawer.probability("network.loss", faults.network.loss, into: &listing)
        network.duplicate = drawer.probability("network.duplicate", faults.network.duplicate, into: &listing)
        network.reorder = drawer.probability("network.reorder", faults.network.reorder, into: &listing)
        network.reorderDelayNanoseconds = drawer.duration("network.reorder_delay", faults.network.reorderDelayNanoseconds, swarmable: false, into: &listing)
        partitionsPerMinute = drawer.rate("network.partitions_per_minute", faults.network.partitionsPerMinute, into: &listing)
        partitionDuration = drawer.keep("network.partition_duration", faults.network.partitionDurationNanoseconds, into: &listing)
        clogsPerMinute = drawer.rate("network.clogs_per_minute", faults.network.clogsPerMinute, into: &listing)
        clogDelay = drawer.keep("network.clog_delay", faults.network.clogDelayNanoseconds, into: &listing)
        clogDuration = drawer.keep("network.clog_duration", faults.network.clogDurationNanoseconds, into: &listing)

        drawer.group("disk")
        listing.append(("disk.sector_size", String(faults.disk.sectorSize)))
        listing.append(("disk.capacity_bytes", String(faults.disk.capacityBytes)))
        disk.latencyMinNanoseconds = drawer.duration("disk.latency.min", faults.disk.latencyMinNanoseconds, swarmable: false, into: &listing)
        disk.latencyMaxNanoseconds = max(disk.latencyMinNanoseconds,
            drawer.duration("disk.latency.max", faults.disk.latencyMaxNanoseconds, swarmable: false, into: &listing))
        disk.unsyncedLost = drawer.probability("disk.unsynced_lost", faults.disk.unsyncedLost, into: &listing)
        disk.unsyncedTorn = drawer.probability("disk.unsynced_torn", faults.disk.unsyncedTorn, into: &listing)
        disk.corruption = drawer.probability("disk.corruption", faults.disk.corruption, into: &listing)
        disk.misdirect = drawer.probability("disk.misdirect", faults.disk.misdirect, into: &listing)
        disk.readError = drawer.probability("disk.read_error", faults.disk.readError, into: &listing)
        disk.writeError = drawer.probability("disk.write_error", faults.disk.writeError, into: &listing)

        drawer.group("process")
        crashesPerMinute = drawer.rate("process.crashes_per_minute", faults.process.crashesPerMinute, into: &listing)
        disk.crashAtDiskCall = drawer.probability("process.crash_at_disk_call", faults.process.crashAtDiskCall, into: &listing)
        restartDelay = drawer.keep("process.restart_delay", faults.process.restartDelayNanoseconds, into: &listing)
        pausesPerMinute = drawer.rate("process.pauses_per_minute", faults.process.pausesPerMinute, into: &listing)
        pauseDuration = drawer.keep("process.pause_duration", faults.process.pauseDurationNanoseconds, into: &listing)

        if !faults.network.leaderIsolationsPerMinute.isZero || !faults.network.newLeaderIsolation.isZero {
            drawer.group("leader-isolation")
            leaderIsolationsPerMinute = drawer.rate("network.leader_isolations_per_minute", faults.network.leaderIsolationsPerMinute, into: &listing)
            newLeaderIsolation = drawer.probability("network.new_leader_isolation", faults.network.newLeaderIsolation, into: &listing)
            leaderIsolationDuration = drawer.keep("network.leader_isolation_duration", faults.network.leaderIsolationDurationNanoseconds, into: &listing)
        }
        if !faults.process.powerFailuresPerMinute.isZero {
            // Its own group, listed only when asked for: scenarios without it draw and
            // print exactly what they did before it existed.
            drawer.group("power")
            powerFailuresPerMinute = drawer.rate("process.power_failures_per_minute", faults.process.powerFailuresPerMinute, into: &listing)
        }
        if !faults.process.leaderCrashesPerMinute.isZero {
            drawer.group("leader-crash")
            leaderCrashesPerMinute = drawer.rate("process.leader_crashes_per_minute", faults.process.leaderCrashesPerMinute, into: &listing)
        }
        if !faults.process.permanentFailures.isZero {
            drawer.group("liveness")
            let range = faults.process.permanentFailures
            permanentFailures = Int(drawer.uniformInteger(Int(range.lower)...Int(range.upper)))
            listing.append(("process.permanent_failures", String(permanentFailures)))
        }

        drawer.group("clock")
        jumpsPerMinute = drawer.rate("clock.jumps_per_minute", faults.clock.jumpsPerMinute, into: &listing)
        jump = drawer.keep("clock.jump", faults.clock.jumpNanoseconds, into: &listing)
        for node in 1...scenario.servers {
            // One generator per node: adding a node leaves the others' clocks alone.
            let random = SeededRandom.derive(root: seed, subsystem: "options.clock.\(node)")
            let skew = Int64(random.uniform(in: faults.clock.skewNanoseconds.lower...faults.clock.skewNanoseconds.upper).rounded())
            let drift = Int64(random.uniform(in: faults.clock.driftPartsPerMillion.lower...faults.clock.driftPartsPerMillion.upper).rounded())
            clocks.append(ClockSetting(skewNanoseconds: skew, driftPartsPerMillion: drift))
            listing.append(("clock.n\(node).skew", formatSignedDuration(skew)))
            listing.append(("clock.n\(node).drift_ppm", String(drift)))
        }
    }
}

/// Draws options from per-group generators, recording each value as text.
private struct Drawer {
    let seed: UInt64
    let swarm: Bool
    var random: SeededRandom

    init(seed: UInt64, swarm: Bool) {
        self.seed = seed
        self.swarm = swarm
        random = SeededRandom.derive(root: seed, subsystem: "options")
    }

    mutating func group(_ name: String) {
        random = SeededRandom.derive(root: seed, subsystem: "options.\(name)")
    }

    /// Under swarm testing, whether this knob is switched off for the seed. Always
    /// draws, so the sequence does not depend on which knobs have non-zero ranges.
    private func switchedOff() -> Bool {
        let off = random.happens(0.5)
        return swarm && off
    }

    func probability(_ key: String, _ range: DrawRange, into listing: inout [(key: String, value: String)]) -> Double {
        let off = switchedOff()
        let drawn = (random.uniform(in: range.lower...range.upper) * 10_000).rounded() / 10_000
        let value = off ? 0 : drawn
        listing.append((key, off && !range.isZero ? "0 (off by swarm)" : "\(value)"))
        return value
    }

    func rate(_ key: String, _ range: DrawRange, into listing: inout [(key: String, value: String)]) -> Double {
        let off = switchedOff()
        let drawn = (random.uniform(in: range.lower...range.upper) * 100).rounded() / 100
        let value = off ? 0 : drawn
        listing.append((key, off && !range.isZero ? "0 (off by swarm)" : "\(value)"))
        return value
    }

    func duration(_ key: String, _ range: DrawRange, swarmable: Bool, into listing: inout [(key: String, value: String)]) -> UInt64 {
        let value = UInt64(random.uniform(in: range.lower...range.upper).rounded())
        listing.append((key, formatDuration(value)))
        return value
    }

    func uniformInteger(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(random.uniform(below: UInt64(range.upperBound - range.lowerBound + 1)))
    }

    /// A range kept as a range: each event draws its own value from it.
    func keep(_ key: String, _ range: DrawRange, into listing: inout [(key: String, value: String)]) -> DrawRange {
        listing.append((key, "[\(formatSignedDuration(Int64(range.lower))), \(formatSignedDuration(Int64(range.upper)))]"))
        return range
    }
}

func formatSignedDuration(_ nanoseconds: Int64) -> String {
    nanoseconds < 0 ? "-" + formatDuration(nanoseconds.magnitude) : formatDuration(UInt64(nanoseconds))
}
