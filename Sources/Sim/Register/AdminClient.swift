import Aegis

/// An operator during the fault phase: at random times it asks the leader for the
/// cluster's configuration, then changes it one server at a time — adds a learner,
/// promotes a learner that caught up, removes a voter (the leader too, sometimes) — or
/// hands leadership to another voter. Everything goes through the client protocol, as
/// bytes, like any client's requests. It keeps the voter count within the scenario's
/// bounds and stops acting when the liveness phase begins.
final class AdminClient: NodeProcess {
    struct Configuration {
        var servers: [NodeID]
        var changesPerMinute: Double
        var transfersPerMinute: Double
        var votersMin: Int
        var votersMax: Int
        var requestTimeoutNanoseconds: UInt64
        var livenessStartNanoseconds: UInt64
    }

    enum Step {
        case idle
        /// Asked for the status; `purpose` is what to do with it.
        case askingStatus(purpose: Purpose)
        case changing(KVOperation)
    }

    enum Purpose {
        case change
        case transfer
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    private(set) var step = Step.idle
    private(set) var changesCommitted = 0
    private(set) var transfersStarted = 0
    private var sequence: UInt64 = 0
    private var target: NodeID
    private var nextServer = 0
    private var actionTimer: TimerID?
    private var requestTimer: TimerID?

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
        target = configuration.servers[0]
    }

    private var clientID: UInt64 { UInt64(environment.node.rawValue) }
    private var now: UInt64 { environment.clock.monotonicNanoseconds }
    private var rate: Double { configuration.changesPerMinute + configuration.transfersPerMinute }

    func start() throws(DiskError) {
        scheduleAction()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == actionTimer {
                actionTimer = nil
                act()
            } else if timer == requestTimer {
                requestTimer = nil
                // No answer: forget this action; the next one starts from a fresh status.
                nextServer = (nextServer + 1) % configuration.servers.count
                target = configuration.servers[nextServer]
                step = .idle
                scheduleAction()
            }
        case let .message(_, bytes):
            guard let response = try? ClientResponse.decode(bytes), response.clientID == clientID,
                  response.sequence == sequence
            else { return }
            answered(response.outcome)
        }
    }

    private func scheduleAction() {
        guard rate > 0 else { return }
        let meanGap = 60e9 / rate
        let unit = Double(environment.entropy.uniform(below: 1 << 53) + 1) / Double(1 << 53)
        let gap = UInt64(min(-meanGap * PortableMath.naturalLog(unit), 600e9))
        actionTimer = environment.timers.arm(afterNanoseconds: max(gap, Nanoseconds.perMillisecond))
    }

    private func act() {
        guard now < configuration.livenessStartNanoseconds else { return }
        let draw = Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53)
        let purpose: Purpose = draw * rate < configuration.changesPerMinute ? .change : .transfer
        send(.status, then: .askingStatus(purpose: purpose))
    }

    private func send(_ operation: KVOperation, then next: Step) {
        sequence += 1
        step = next
        let request = ClientRequest(clientID: clientID, sequence: sequence, operation: operation)
        environment.network.send(to: target, bytes: request.encoded)
        requestTimer.map(environment.timers.cancel)
        requestTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }

    private func answered(_ outcome: ClientResponse.Outcome) {
        requestTimer.map(environment.timers.cancel)
        requestTimer = nil
        switch (step, outcome) {
        case let (.askingStatus(purpose), .ok(.status(status))):
            target = status.leader
            if let operation = choose(purpose, status) {
                send(operation, then: .changing(operation))
                return
            }
        case (.changing(.changeMembership), .ok(.membershipChanged)):
            changesCommitted += 1
        case (.changing(.transferLeadership), .ok(.transferStarted)):
            transfersStarted += 1
        case (_, .redirect(let leader?)):
            target = leader
        default:
            break
        }
        step = .idle
        scheduleAction()
    }

    private func pick<T>(_ items: [T]) -> T? {
        guard !items.isEmpty else { return nil }
        return items[Int(environment.entropy.uniform(below: UInt64(items.count)))]
    }

    /// The next change for this configuration, within the voter bounds.
    private func choose(_ purpose: Purpose, _ status: ClusterStatus) -> KVOperation? {
        let current = status.configuration
        switch purpose {
        case .transfer:
            return pick(current.voters.filter { $0 != status.leader }).map { .transferLeadership(to: $0) }
        case .change:
            if let learner = pick(current.learners) { return .changeMembership(.promote(learner)) }
            let outsiders = configuration.servers.filter { !current.isMember($0) }
            let canGrow = current.voters.count < configuration.votersMax && !outsiders.isEmpty
            let canShrink = current.voters.count > configuration.votersMin
            let grow = canGrow && (!canShrink || environment.entropy.uniform(below: 2) == 0)
            if grow, let node = pick(outsiders) { return .changeMembership(.addLearner(node)) }
            if canShrink, let node = pick(current.voters) { return .changeMembership(.remove(node)) }
            return nil
        }
    }
}
