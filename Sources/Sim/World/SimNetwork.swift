import Aegis

/// The network fault rates in force; drawn per seed, zeroed for the liveness phase.
struct NetworkFaultRates {
    var distribution = LatencyDistribution.exponential
    var latencyMinNanoseconds: UInt64 = 0
    var latencyMeanNanoseconds: UInt64 = 0
    var latencyMaxNanoseconds: UInt64 = 0
    var loss = 0.0
    var duplicate = 0.0
    var reorder = 0.0
    var reorderDelayNanoseconds: UInt64 = 0
}

/// Carries bytes between hosts. Each directed link draws its fates (loss, latency,
/// duplication, reordering) from its own generator, so adding a node leaves the draws
/// of existing links unchanged. Partitions block directed links; clogging adds delay.
final class SimNetwork {
    // The simulation owns every world object and outlives them all.
    unowned(unsafe) let simulation: Simulation
    var rates = NetworkFaultRates()
    private let hostCount: Int
    private var links: [SeededRandom]
    /// Per directed link: blocked by partitions (all healed together), and by how many
    /// leader isolations (each healed on its own).
    private var blocked: [Bool]
    private var isolationBlocks: [Int]
    private var clogNanoseconds: [UInt64]
    private(set) var statistics = NetworkStatistics()

    init(simulation: Simulation, hosts: [SimHost]) {
        self.simulation = simulation
        hostCount = hosts.count
        links = []
        for source in hosts {
            for target in hosts {
                links.append(SeededRandom.derive(
                    root: simulation.seed, subsystem: "network.link.\(source.node.rawValue).\(target.node.rawValue)"))
            }
        }
        blocked = Array(repeating: false, count: hostCount * hostCount)
        isolationBlocks = Array(repeating: 0, count: hostCount * hostCount)
        clogNanoseconds = Array(repeating: 0, count: hostCount * hostCount)
    }

    private func link(_ source: Int, _ target: Int) -> Int { source * hostCount + target }

    // MARK: topology faults

    func block(from source: Int, to target: Int) {
        if source != target { blocked[link(source, target)] = true }
    }

    /// Blocks a link until `unblockIsolation` takes this block back (or everything heals).
    func blockIsolation(from source: Int, to target: Int) {
        if source != target { isolationBlocks[link(source, target)] += 1 }
    }

    func unblockIsolation(from source: Int, to target: Int) {
        if source != target { isolationBlocks[link(source, target)] = max(0, isolationBlocks[link(source, target)] - 1) }
    }

    func isBlocked(from source: Int, to target: Int) -> Bool {
        blocked[link(source, target)] || isolationBlocks[link(source, target)] > 0
    }

    func clog(from source: Int, to target: Int, delayNanoseconds: UInt64) {
        clogNanoseconds[link(source, target)] = delayNanoseconds
    }

    /// Ends every partition; with `isolations`, leader isolations too.
    func healPartitions(isolations: Bool = true) {
        for index in blocked.indices {
            blocked[index] = false
            if isolations { isolationBlocks[index] = 0 }
        }
    }

    var hasRandomPartition: Bool { blocked.contains(true) }

    func unclogAll() {
        for index in clogNanoseconds.indices { clogNanoseconds[index] = 0 }
    }

    var hasPartition: Bool { blocked.contains(true) || isolationBlocks.contains { $0 > 0 } }

    // MARK: sending

    func send(from source: SimHost, to target: NodeID, bytes: [UInt8], departureNanoseconds: UInt64) {
        let digest = StableHash64.digest(bytes)
        statistics.sent += 1
        guard let targetHost = simulation.host(for: target) else {
            statistics.dropped += 1
            record(source, "net.send", digest, "to=\(target) len=\(bytes.count) drop=unknown-node", departureNanoseconds)
            return
        }
        let index = link(source.index, targetHost.index)
        if blocked[index] || isolationBlocks[index] > 0 {
            statistics.dropped += 1
            statistics.droppedByPartition += 1
            simulation.coverage.hit(.messageDroppedByPartition)
            record(source, "net.send", digest, "to=\(target) len=\(bytes.count) drop=partition", departureNanoseconds)
            return
        }
        let random = links[index]
        if random.happens(rates.loss) {
            statistics.dropped += 1
            statistics.droppedByLoss += 1
            simulation.coverage.hit(.messageLost)
            record(source, "net.send", digest, "to=\(target) len=\(bytes.count) drop=loss", departureNanoseconds)
            return
        }
        let delay = drawDelay(random) + clogNanoseconds[index]
        simulation.schedule(at: departureNanoseconds + delay, .deliver(from: source.node, to: target, bytes: bytes, digest: digest))
        var copyDelay: UInt64?
        if random.happens(rates.duplicate) {
            statistics.duplicated += 1
            simulation.coverage.hit(.messageDuplicated)
            let second = drawDelay(random) + clogNanoseconds[index]
            simulation.schedule(at: departureNanoseconds + second, .deliver(from: source.node, to: target, bytes: bytes, digest: digest))
            copyDelay = second
        }
        // The text is made only when the trace is kept.
        record(source, "net.send", digest,
            "to=\(target) len=\(bytes.count) delay=\(formatDuration(delay))" + (copyDelay.map { " dup-delay=\(formatDuration($0))" } ?? ""),
            departureNanoseconds)
    }

    func drawDelay(_ random: SeededRandom) -> UInt64 {
        var delay: UInt64
        switch rates.distribution {
        case .uniform:
            delay = rates.latencyMaxNanoseconds > rates.latencyMinNanoseconds
                ? random.uniform(in: rates.latencyMinNanoseconds...rates.latencyMaxNanoseconds)
                : rates.latencyMinNanoseconds
        case .exponential:
            let spread = Double(rates.latencyMeanNanoseconds > rates.latencyMinNanoseconds
                ? rates.latencyMeanNanoseconds - rates.latencyMinNanoseconds : 0)
            let drawn = spread > 0 ? random.exponential(mean: spread) : 0
            delay = rates.latencyMinNanoseconds + UInt64(min(drawn, 1e15))
            delay = min(delay, max(rates.latencyMaxNanoseconds, rates.latencyMinNanoseconds))
        }
        if rates.reorderDelayNanoseconds > 0, random.happens(rates.reorder) {
            statistics.reordered += 1
            simulation.coverage.hit(.messageReordered)
            delay += random.uniform(in: 0...rates.reorderDelayNanoseconds)
        }
        return max(delay, 1)
    }

    private func record(_ source: SimHost, _ kind: String, _ digest: UInt64, _ detail: @autoclosure () -> String, _ time: UInt64) {
        simulation.trace.record(time: time, node: source.node, kind: kind, digest: digest, detail: detail())
    }
}

struct NetworkStatistics: Equatable {
    var sent = 0
    var delivered = 0
    var dropped = 0
    var droppedByLoss = 0
    var droppedByPartition = 0
    var duplicated = 0
    var reordered = 0
}

/// "1.234ms"-style text for trace details.
func formatDuration(_ nanoseconds: UInt64) -> String {
    if nanoseconds >= Nanoseconds.perSecond {
        return formatFixed(nanoseconds, unit: Nanoseconds.perSecond, digits: 3) + "s"
    }
    if nanoseconds >= Nanoseconds.perMillisecond {
        return formatFixed(nanoseconds, unit: Nanoseconds.perMillisecond, digits: 3) + "ms"
    }
    if nanoseconds >= Nanoseconds.perMicrosecond {
        return formatFixed(nanoseconds, unit: Nanoseconds.perMicrosecond, digits: 3) + "us"
    }
    return "\(nanoseconds)ns"
}

/// Integer formatting with a fixed number of decimals, no floating point.
func formatFixed(_ value: UInt64, unit: UInt64, digits: Int) -> String {
    var scale: UInt64 = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = value / (unit / scale)
    let whole = scaled / scale
    let fraction = String(scaled % scale)
    return "\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
}
