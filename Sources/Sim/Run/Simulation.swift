import Aegis

/// Something due at a simulated instant.
enum SimEvent {
    case deliver(from: NodeID, to: NodeID, bytes: [UInt8], digest: UInt64)
    case timer(host: Int, incarnation: UInt32, timer: TimerID)
    case boot(host: Int)
    case scheduled(ScheduledAction)
    case randomFault(RandomFault)
    case resume(host: Int)
    case healRandomPartition
    case endIsolation(host: Int)
    case unclog(from: Int, to: Int)
    case livenessPhase
    case livenessProbe
    case deadline
}

enum RandomFault: String {
    case crash
    case powerFailure = "power-failure"
    case leaderCrash = "leader-crash"
    case pause
    case partition
    case leaderIsolation = "leader-isolation"
    case clog
    case clockJump = "clock-jump"
}

/// The result of one run.
public struct RunResult: Sendable {
    public var outcome: Outcome
    public var violations: [Violation]
    public var steps: UInt64
    public var simulatedNanoseconds: UInt64
    public var finalHash: UInt64
    public var summary: String
    public var coverage: Coverage
}

/// One seeded run of a scenario: builds the cluster, drives it from a single event
/// queue ordered by (simulated time, sequence), injects the faults of its plan, and
/// judges it. Deterministic: the same scenario, seed and mutations give the same
/// events, the same trace and the same hash, in any process on any machine.
public final class Simulation {
    public let scenario: Scenario
    public let seed: UInt64
    public let options: FaultOptions
    public let mutations: [Mutation]
    /// Servers kept down through the liveness phase.
    private var permanentlyFailed: [Bool] = []
    public let trace: TraceRecorder
    public internal(set) var coverage = Coverage()
    public private(set) var nowNanoseconds: UInt64 = 0

    private(set) var hosts: [SimHost] = []
    private(set) var network: SimNetwork!
    private var queue = EventQueue<SimEvent>()
    private let workload: any SimWorkload
    private let faultRandom: SeededRandom
    private var inLivenessPhase = false
    private var completed = false
    private var violations: [Violation] = []
    private let stepLimit: UInt64

    static let livenessProbeIntervalNanoseconds = 10 * Nanoseconds.perMillisecond
    static let livenessRestartDelayNanoseconds = 10 * Nanoseconds.perMillisecond
    static let clientNodeBase: UInt32 = 100

    public init(
        scenario: Scenario, seed: UInt64, mutations: [Mutation] = [], recording: Bool = false,
        echo: ((String) -> Void)? = nil, stepLimit: UInt64 = 50_000_000
    ) {
        self.scenario = scenario
        self.seed = seed
        self.mutations = mutations
        self.stepLimit = stepLimit
        options = FaultOptions(scenario: scenario, seed: seed)
        trace = TraceRecorder(recording: recording, echo: echo)
        faultRandom = SeededRandom.derive(root: seed, subsystem: "faults.random")
        switch scenario.workload.kind {
        case .gset:
            workload = ProbeWorkload(spec: scenario.workload, mutations: mutations, checks: scenario.checks)
        case .register, .sqlBank:
            workload = RegisterWorkload(scenario: scenario, mutations: mutations)
        case .storage:
            workload = StorageWorkload(scenario: scenario, seed: seed, mutations: mutations)
        case .shardBank, .listAppend, .shardSQLBank:
            workload = ShardWorkload(scenario: scenario, mutations: mutations)
        }
        buildCluster()
    }

    /// A process holds its host (its doors are the host) and the host holds the process:
    /// break that cycle, or every run would leak its cluster, disks and all.
    deinit {
        for host in hosts { host.process = nil }
    }

    var serverHosts: ArraySlice<SimHost> { hosts[0..<scenario.servers] }
    var clientHosts: ArraySlice<SimHost> { hosts[scenario.servers...] }
    var serverIDs: [NodeID] { serverHosts.map(\.node) }

    func host(for node: NodeID) -> SimHost? {
        let raw = Int(node.rawValue)
        if raw >= 1, raw <= scenario.servers { return hosts[raw - 1] }
        let client = raw - Int(Simulation.clientNodeBase)
        if client >= 1, client <= scenario.clientProcesses { return hosts[scenario.servers + client - 1] }
        return nil
    }

    private func buildCluster() {
        for index in 0..<scenario.servers {
            let host = SimHost(node: NodeID(UInt32(index + 1)), index: index, role: .server, simulation: self)
            host.clock.skewNanoseconds = options.clocks[index].skewNanoseconds
            host.clock.driftPartsPerMillion = options.clocks[index].driftPartsPerMillion
            host.disk = SimDisk(host: host, sectorSize: scenario.faults.disk.sectorSize,
                capacityBytes: scenario.faults.disk.capacityBytes,
                random: SeededRandom.derive(root: seed, subsystem: "disk.\(index + 1)"))
            host.disk.rates = options.disk
            hosts.append(host)
        }
        for number in 1...max(scenario.clientProcesses, 1) where scenario.clientProcesses > 0 {
            let node = NodeID(Simulation.clientNodeBase + UInt32(number))
            let host = SimHost(node: node, index: hosts.count, role: .client, simulation: self)
            host.disk = SimDisk(host: host, sectorSize: 512, capacityBytes: 1 << 20,
                random: SeededRandom.derive(root: seed, subsystem: "disk.client.\(number)"))
            hosts.append(host)
        }
        permanentlyFailed = Array(repeating: false, count: hosts.count)
        network = SimNetwork(simulation: self, hosts: hosts)
        network.rates = options.network
    }

    func schedule(at timeNanoseconds: UInt64, _ event: SimEvent) {
        queue.schedule(at: max(timeNanoseconds, nowNanoseconds), event)
    }

    // MARK: the run

    public func run() -> RunResult {
        record(nil, "run.start", 0,
            "scenario=\(scenario.name) seed=\(seed) servers=\(scenario.servers) clients=\(scenario.workload.clients)")
        for host in hosts {
            schedule(at: 0, .boot(host: host.index))
        }
        for fault in scenario.schedule {
            schedule(at: fault.atNanoseconds, .scheduled(fault.action))
        }
        scheduleRandom(.crash, perMinute: options.crashesPerMinute)
        scheduleRandom(.powerFailure, perMinute: options.powerFailuresPerMinute)
        scheduleRandom(.leaderCrash, perMinute: options.leaderCrashesPerMinute)
        scheduleRandom(.pause, perMinute: options.pausesPerMinute)
        scheduleRandom(.partition, perMinute: options.partitionsPerMinute)
        scheduleRandom(.leaderIsolation, perMinute: options.leaderIsolationsPerMinute)
        scheduleRandom(.clog, perMinute: options.clogsPerMinute)
        scheduleRandom(.clockJump, perMinute: options.jumpsPerMinute)
        schedule(at: scenario.durationNanoseconds, .livenessPhase)
        schedule(at: scenario.durationNanoseconds + scenario.livenessBoundNanoseconds, .deadline)

        var finished = false
        while !finished, let entry = queue.popFirst() {
            precondition(entry.timeNanoseconds >= nowNanoseconds, "time went backwards in the event queue")
            nowNanoseconds = entry.timeNanoseconds
            if trace.step >= stepLimit {
                violations.append(Violation(kind: .liveness, check: .liveness,
                    message: "the run exceeded \(stepLimit) steps; a livelock or a message storm"))
                break
            }
            finished = dispatch(entry.item)
            if !violations.isEmpty { break }
        }
        if violations.isEmpty {
            violations = workload.finalCheck(self, completed: completed)
        }
        let outcome: Outcome = violations.contains(where: { $0.kind == .safety }) ? .safetyViolation
            : violations.isEmpty ? .pass : .livenessViolation
        for violation in violations {
            record(nil, "violation", StableHash64.digest(violation.message), violation.description)
        }
        let summary = workload.summary(self)
        record(nil, "run.end", 0, "outcome=\(outcome.rawValue) \(summary)")
        return RunResult(
            outcome: outcome, violations: violations, steps: trace.step, simulatedNanoseconds: nowNanoseconds,
            finalHash: trace.runningHash, summary: summary, coverage: coverage)
    }

    /// Handles one event; returns true when the run is over.
    private func dispatch(_ event: SimEvent) -> Bool {
        switch event {
        case let .deliver(source, target, bytes, digest):
            deliver(from: source, to: target, bytes: bytes, digest: digest, event: event)
        case let .timer(index, incarnation, timer):
            fire(hosts[index], incarnation: incarnation, timer: timer, event: event)
        case let .boot(index):
            boot(hosts[index])
        case let .scheduled(action):
            record(nil, "fault.scheduled", 0, action.description)
            apply(action)
        case let .randomFault(kind):
            injectRandom(kind)
        case let .resume(index):
            resume(hosts[index])
        case .healRandomPartition:
            if network.hasRandomPartition {
                network.healPartitions(isolations: false)
                record(nil, "net.heal", 0, "random partition over")
            }
        case let .endIsolation(index):
            for other in serverHosts where other.index != index {
                network.unblockIsolation(from: index, to: other.index)
                network.unblockIsolation(from: other.index, to: index)
            }
            record(nil, "net.heal", 1, "isolation of \(hosts[index].node) over")
        case let .unclog(source, target):
            network.clog(from: source, to: target, delayNanoseconds: 0)
            record(nil, "net.unclog", 0, "\(hosts[source].node)->\(hosts[target].node)")
        case .livenessPhase:
            beginLivenessPhase()
        case .livenessProbe:
            if workload.isComplete(self) {
                completed = true
                coverage.hit(.livenessReached)
                record(nil, "run.complete", 0, "all work finished and replicas converged")
                return true
            }
            schedule(at: nowNanoseconds + Simulation.livenessProbeIntervalNanoseconds, .livenessProbe)
        case .deadline:
            record(nil, "run.deadline", 0, "liveness bound reached")
            return true
        }
        return false
    }

    // MARK: driving processes

    private func deliver(from source: NodeID, to target: NodeID, bytes: [UInt8], digest: UInt64, event: SimEvent) {
        guard let host = host(for: target) else { return }
        switch host.status {
        case .down:
            record(target, "net.drop", digest, "from=\(source) len=\(bytes.count) reason=process-down")
            return
        case .paused:
            host.heldEvents.append(event)
            return
        case .running:
            break
        }
        if host.busyUntilNanoseconds > nowNanoseconds {
            schedule(at: host.busyUntilNanoseconds, event)
            return
        }
        if let sourceHost = self.host(for: source), network.isBlocked(from: sourceHost.index, to: host.index) {
            record(target, "net.drop", digest, "from=\(source) len=\(bytes.count) reason=partition-in-flight")
            return
        }
        record(target, "net.recv", digest, "from=\(source) len=\(bytes.count)")
        runStep(host) { () throws(DiskError) in try host.process?.handle(.message(from: source, bytes: bytes)) }
    }

    private func fire(_ host: SimHost, incarnation: UInt32, timer: TimerID, event: SimEvent) {
        guard host.status != .down, incarnation == host.incarnation else { return }
        if host.status == .paused {
            host.heldEvents.append(event)
            return
        }
        if host.busyUntilNanoseconds > nowNanoseconds {
            schedule(at: host.busyUntilNanoseconds, event)
            return
        }
        guard host.takeTimer(timer, incarnation: incarnation) else { return }
        record(host.node, "timer", timer.rawValue, timer.description)
        runStep(host) { () throws(DiskError) in try host.process?.handle(.timer(timer)) }
    }

    private func boot(_ host: SimHost) {
        guard host.status == .down, !permanentlyFailed[host.index] else { return }
        let servers = serverIDs
        host.boot { environment in
            host.role == .server
                ? workload.makeServer(environment, servers: servers)
                : workload.makeClient(environment, number: Int(host.node.rawValue - Simulation.clientNodeBase), servers: servers)
        }
        record(host.node, "process.start", UInt64(host.incarnation), "incarnation=\(host.incarnation)")
        runStep(host) { () throws(DiskError) in try host.process?.start() }
        if host.status == .running, let note = workload.startNote(host) {
            trace.record(time: host.busyUntilNanoseconds, node: host.node, kind: "process.recovered",
                digest: StableHash64.digest(note), detail: note)
        }
    }

    /// Runs one handler of `host`; a crash requested by the disk, or any disk error the
    /// process let escape (it fails stop, like a server that panics on an I/O error),
    /// takes the process down, and it restarts after a drawn delay.
    private func runStep(_ host: SimHost, _ body: () throws(DiskError) -> Void) {
        let error = host.step(body)
        // Check before a crash takes the process away: what it did in this step (a
        // client answered, an entry applied) happened, crash or not.
        if let violation = workload.checkStep(host, in: self) {
            violations.append(violation)
        }
        maybeIsolateNewLeader()
        if host.crashRequested {
            crash(host, reason: host.crashReason)
        } else if let error {
            record(host.node, "process.fail", StableHash64.digest(error.description), error.description)
            coverage.hit(.processFailedStop)
            crash(host, reason: "failed stop after a disk error")
        }
    }

    /// Crashes `host`. Unplanned crashes restart after a drawn delay; a scheduled
    /// crash waits for its scheduled restart (or the liveness phase).
    private func crash(_ host: SimHost, reason: String, restart: Bool = true) {
        guard host.status != .down else { return }
        let summary = host.crash()
        coverage.hit(.processCrashed)
        record(host.node, "process.crash", 0, "\(reason); \(summary)")
        if restart {
            scheduleRestart(host)
        }
    }

    private func scheduleRestart(_ host: SimHost) {
        // In the liveness phase a crashed process comes back at once, but not in the same
        // instant: a process that fails at every start must not stop the clock.
        let delay = inLivenessPhase ? Simulation.livenessRestartDelayNanoseconds
            : UInt64(faultRandom.uniform(in: options.restartDelay.lower...options.restartDelay.upper))
        schedule(at: nowNanoseconds + delay, .boot(host: host.index))
    }

    private func pause(_ host: SimHost) {
        guard host.status == .running else { return }
        host.status = .paused
        coverage.hit(.processPaused)
        record(host.node, "process.pause", 0, "")
    }

    private func resume(_ host: SimHost) {
        guard host.status == .paused else { return }
        host.status = .running
        let held = host.heldEvents
        host.heldEvents.removeAll()
        record(host.node, "process.resume", UInt64(held.count), "held-events=\(held.count)")
        if !held.isEmpty { coverage.hit(.heldEventsDelivered) }
        for event in held {
            schedule(at: nowNanoseconds, event)
        }
    }

    // MARK: faults

    private func apply(_ action: ScheduledAction) {
        switch action {
        case let .partition(groups):
            coverage.hit(.partitionStarted)
            for (groupIndex, group) in groups.enumerated() {
                for (otherIndex, other) in groups.enumerated() where otherIndex != groupIndex {
                    for source in group {
                        for target in other { network.block(from: source - 1, to: target - 1) }
                    }
                }
            }
        case let .partitionOneWay(from, to):
            for source in from {
                for target in to { network.block(from: source - 1, to: target - 1) }
            }
        case let .isolate(node):
            isolate(node - 1)
        case let .clog(from, to, delay):
            network.clog(from: from - 1, to: to - 1, delayNanoseconds: delay)
        case .heal:
            network.healPartitions()
            network.unclogAll()
        case let .crash(node):
            crash(hosts[node - 1], reason: "scheduled", restart: false)
        case let .restart(node):
            boot(hosts[node - 1])
        case let .pause(node):
            pause(hosts[node - 1])
        case let .resume(node):
            resume(hosts[node - 1])
        case let .clockJump(node, by):
            coverage.hit(.clockJumped)
            hosts[node - 1].clock.jumpedNanoseconds += by
        }
    }

    /// Cuts a server off from everyone, clients included, in both directions.
    private func isolate(_ index: Int) {
        for other in hosts.indices where other != index {
            network.block(from: index, to: other)
            network.block(from: other, to: index)
        }
    }

    private func scheduleRandom(_ kind: RandomFault, perMinute rate: Double) {
        guard rate > 0, !inLivenessPhase else { return }
        let meanGap = 60e9 / rate
        let gap = UInt64(min(faultRandom.exponential(mean: meanGap), 1e15))
        let due = nowNanoseconds + max(gap, 1)
        guard due < scenario.durationNanoseconds else { return }
        schedule(at: due, .randomFault(kind))
    }

    private func randomDuration(_ range: DrawRange) -> UInt64 {
        UInt64(faultRandom.uniform(in: range.lower...range.upper).rounded())
    }

    private func randomServer(_ status: SimHost.Status?) -> SimHost? {
        let candidates = serverHosts.filter { status == nil || $0.status == status }
        guard !candidates.isEmpty else { return nil }
        return candidates[candidates.startIndex + faultRandom.uniform(in: 0...(candidates.count - 1))]
    }

    private func injectRandom(_ kind: RandomFault) {
        guard !inLivenessPhase else { return }
        switch kind {
        case .crash:
            scheduleRandom(.crash, perMinute: options.crashesPerMinute)
            if let host = randomServer(.running) { crash(host, reason: "random") }
        case .leaderCrash:
            scheduleRandom(.leaderCrash, perMinute: options.leaderCrashesPerMinute)
            if let leader = workload.leaderIndex(self) { crash(hosts[leader], reason: "leader crash") }
        case .powerFailure:
            scheduleRandom(.powerFailure, perMinute: options.powerFailuresPerMinute)
        scheduleRandom(.leaderCrash, perMinute: options.leaderCrashesPerMinute)
            coverage.hit(.powerFailure)
            record(nil, "fault.power-failure", 0, "every server crashes at once")
            for host in serverHosts where host.status != .down { crash(host, reason: "power failure") }
        case .pause:
            scheduleRandom(.pause, perMinute: options.pausesPerMinute)
            if let host = randomServer(.running) {
                pause(host)
                schedule(at: nowNanoseconds + randomDuration(options.pauseDuration), .resume(host: host.index))
            }
        case .partition:
            scheduleRandom(.partition, perMinute: options.partitionsPerMinute)
            randomPartition()
        case .leaderIsolation:
            scheduleRandom(.leaderIsolation, perMinute: options.leaderIsolationsPerMinute)
            if let leader = workload.leaderIndex(self) { isolateLeader(leader, reason: "isolate leader") }
        case .clog:
            scheduleRandom(.clog, perMinute: options.clogsPerMinute)
            guard scenario.servers >= 2 else { return }
            let source = faultRandom.uniform(in: 0...(scenario.servers - 1))
            var target = faultRandom.uniform(in: 0...(scenario.servers - 2))
            if target >= source { target += 1 }
            let delay = randomDuration(options.clogDelay)
            network.clog(from: source, to: target, delayNanoseconds: delay)
            coverage.hit(.linkClogged)
            record(nil, "net.clog", delay, "\(hosts[source].node)->\(hosts[target].node) +\(formatDuration(delay))")
            schedule(at: nowNanoseconds + randomDuration(options.clogDuration), .unclog(from: source, to: target))
        case .clockJump:
            scheduleRandom(.clockJump, perMinute: options.jumpsPerMinute)
            if let host = randomServer(nil) {
                let by = Int64(faultRandom.uniform(in: options.jump.lower...options.jump.upper).rounded())
                host.clock.jumpedNanoseconds += by
                coverage.hit(.clockJumped)
                record(host.node, "clock.jump", UInt64(bitPattern: by), "by=\(formatSignedDuration(by))")
            }
        }
    }

    /// Cuts a leader off from every other server (clients still reach it), until its
    /// own heal event.
    private func isolateLeader(_ leader: Int, reason: String) {
        coverage.hit(.leaderIsolated)
        for other in serverHosts where other.index != leader {
            network.blockIsolation(from: leader, to: other.index)
            network.blockIsolation(from: other.index, to: leader)
        }
        record(nil, "net.partition", 3, "\(reason) \(hosts[leader].node) from the servers")
        schedule(at: nowNanoseconds + randomDuration(options.leaderIsolationDuration), .endIsolation(host: leader))
    }

    /// A leader elected in this step may be isolated at once.
    private func maybeIsolateNewLeader() {
        guard options.newLeaderIsolation > 0, !inLivenessPhase,
              let (leader, term) = workload.newLeader(self), faultRandom.happens(options.newLeaderIsolation)
        else { return }
        _ = term
        isolateLeader(leader, reason: "isolate new leader")
    }

    /// One of: split the servers in two at random, isolate one, or cut one direction.
    private func randomPartition() {
        guard scenario.servers >= 2 else { return }
        coverage.hit(.partitionStarted)
        let shape = faultRandom.uniform(in: 0...2)
        switch shape {
        case 0:
            var side: [Bool] = serverHosts.map { _ in faultRandom.happens(0.5) }
            if !side.contains(true) { side[0] = true }
            if !side.contains(false) { side[side.count - 1] = false }
            for source in side.indices {
                for target in side.indices where side[source] != side[target] { network.block(from: source, to: target) }
            }
            let left = side.indices.filter { side[$0] }.map { "n\($0 + 1)" }.joined(separator: ",")
            let right = side.indices.filter { !side[$0] }.map { "n\($0 + 1)" }.joined(separator: ",")
            record(nil, "net.partition", 0, "{\(left)} | {\(right)}")
        case 1:
            let index = faultRandom.uniform(in: 0...(scenario.servers - 1))
            isolate(index)
            record(nil, "net.partition", 1, "isolate \(hosts[index].node)")
        default:
            let source = faultRandom.uniform(in: 0...(scenario.servers - 1))
            var target = faultRandom.uniform(in: 0...(scenario.servers - 2))
            if target >= source { target += 1 }
            network.block(from: source, to: target)
            record(nil, "net.partition", 2, "one-way \(hosts[source].node)->\(hosts[target].node)")
        }
        schedule(at: nowNanoseconds + randomDuration(options.partitionDuration), .healRandomPartition)
    }

    /// Faults stop: the network heals and loses nothing more, disks stop failing,
    /// paused processes resume and crashed ones restart. The work must now finish
    /// within the liveness bound.
    private func beginLivenessPhase() {
        inLivenessPhase = true
        network.healPartitions()
        network.unclogAll()
        network.rates.loss = 0
        network.rates.duplicate = 0
        network.rates.reorder = 0
        for host in hosts {
            host.disk.rates.corruption = 0
            host.disk.rates.misdirect = 0
            host.disk.rates.readError = 0
            host.disk.rates.writeError = 0
            host.disk.rates.crashAtDiskCall = 0
        }
        record(nil, "phase.liveness", 0, "faults healed; bound \(formatDuration(scenario.livenessBoundNanoseconds))")
        choosePermanentFailures()
        for host in hosts where !permanentlyFailed[host.index] {
            resume(host)
            if host.status == .down { schedule(at: nowNanoseconds, .boot(host: host.index)) }
        }
        schedule(at: nowNanoseconds, .livenessProbe)
    }

    /// The drawn number of servers fail for good: crashed now, never restarted.
    private func choosePermanentFailures() {
        var candidates = Array(serverHosts)
        for _ in 0..<options.permanentFailures where !candidates.isEmpty {
            let host = candidates.remove(at: faultRandom.uniform(in: 0...(candidates.count - 1)))
            permanentlyFailed[host.index] = true
            if host.status != .down {
                let summary = host.crash()
                coverage.hit(.processCrashed)
                record(host.node, "process.crash", 0, "permanent failure; \(summary)")
            } else {
                record(host.node, "process.fail-permanently", 0, "stays down")
            }
        }
    }

    func isPermanentlyFailed(_ host: SimHost) -> Bool {
        permanentlyFailed[host.index]
    }

    /// The register history as JSON lines, when the workload keeps one.
    public var historyLines: [String]? { workload.historyLines }

    private func record(_ node: NodeID?, _ kind: String, _ digest: UInt64, _ detail: @autoclosure () -> String) {
        trace.record(time: nowNanoseconds, node: node, kind: kind, digest: digest, detail: detail())
    }

    // MARK: figures, for tests and summaries

    var networkStatistics: NetworkStatistics { network.statistics }
    func diskStatistics(ofServer number: Int) -> DiskStatistics { hosts[number - 1].disk.statistics }
}
