import Aegis

/// An operator during the fault phase: at drawn moments it asks for a split of a random
/// shard at one of the workload's keys, or a move of a random replica to a node that
/// lacks one, through the same protocol as any client (the meta leader takes the order;
/// the others say who leads). It learns the map from any node first. It also
/// decommissions `decommissions` nodes, drawn at the start, each at a drawn moment in
/// the first half of the fault phase; such an order is sent until a meta leader takes
/// it, so the workload can demand that those nodes end empty.
final class ShardOperatorClient: NodeProcess {
    struct Configuration {
        var servers: [NodeID]
        var keys: Int
        var splitsPerMinute: Double
        var movesPerMinute: Double
        var decommissions: Int
        var requestTimeoutNanoseconds: UInt64
        var livenessStartNanoseconds: UInt64
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    private(set) var ordersAccepted = 0
    private(set) var ordersRefused = 0
    private var map: ShardMap?
    private var sequence: UInt64 = 0
    private var pending: (sequence: UInt64, operation: ShardClientOperation, tries: Int)?
    private var nextServer = 0
    private var orderTimer: TimerID?
    private var attemptTimer: TimerID?
    /// Nodes to decommission, with the timer of each order still to be sent.
    private var decommissionTimers: [(timer: TimerID, node: NodeID)] = []
    /// Decommissions a meta leader took: these nodes must end without replicas.
    private(set) var decommissioned: [NodeID] = []
    private var waitingDecommissions: [NodeID] = []

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
    }

    private var clientID: UInt64 { UInt64(environment.node.rawValue) }
    private var now: UInt64 { environment.clock.monotonicNanoseconds }

    func start() throws(DiskError) {
        scheduleOrder()
        var candidates = configuration.servers
        for _ in 0..<min(configuration.decommissions, candidates.count) {
            let node = candidates.remove(at: Int(environment.entropy.uniform(below: UInt64(candidates.count))))
            let half = max(1, configuration.livenessStartNanoseconds / 2)
            let at = 1 + environment.entropy.uniform(below: half)
            decommissionTimers.append((environment.timers.arm(afterNanoseconds: at), node))
        }
    }

    private var ratePerMinute: Double { configuration.splitsPerMinute + configuration.movesPerMinute }

    private func scheduleOrder() {
        guard ratePerMinute > 0 else { return }
        let mean = 60e9 / ratePerMinute
        let gap = UInt64(min(SeededDraw.exponential(environment.entropy, mean: mean), 1e15))
        guard now + gap < configuration.livenessStartNanoseconds else { return }
        orderTimer = environment.timers.arm(afterNanoseconds: max(gap, 1))
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if let index = decommissionTimers.firstIndex(where: { $0.timer == timer }) {
                waitingDecommissions.append(decommissionTimers.remove(at: index).node)
                issue()
            } else if timer == orderTimer {
                orderTimer = nil
                issue()
                scheduleOrder()
            } else if timer == attemptTimer {
                attemptTimer = nil
                retry()
            }
        case let .message(_, bytes):
            guard let response = try? ShardClientResponse.decode(bytes), response.clientID == clientID,
                  let current = pending, response.sequence == current.sequence else { return }
            switch response.outcome {
            case let .map(newer):
                if map == nil || newer.version > map!.version { map = newer }
                done()
            case .accepted:
                ordersAccepted += 1
                if case let .decommission(node, true) = current.operation { decommissioned.append(node) }
                done()
            case .refused:
                ordersRefused += 1
                done()
            case .unavailable, .unknown, .transaction, .entries, .read:
                retry()
            }
        }
    }

    private func issue() {
        guard pending == nil, now < configuration.livenessStartNanoseconds else { return }
        if !waitingDecommissions.isEmpty {
            send(.decommission(waitingDecommissions.removeFirst(), draining: true))
            return
        }
        guard let map else {
            send(.map)
            return
        }
        let draw = Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53)
        if draw * ratePerMinute < configuration.splitsPerMinute {
            let shard = map.shards[Int(environment.entropy.uniform(below: UInt64(map.shards.count)))]
            let key = ShardClient.key(Int(environment.entropy.uniform(below: UInt64(configuration.keys))))
            send(.split(shard: shard.id, key: shard.range.canSplit(at: key) ? key : nil))
        } else {
            let all = map.allShards
            let shard = all[Int(environment.entropy.uniform(below: UInt64(all.count)))]
            let voters = shard.replicas.voters
            let outsiders = map.nodes.filter { !shard.replicas.isMember($0) }
            guard !voters.isEmpty, !outsiders.isEmpty else {
                send(.map)
                return
            }
            let from = voters[Int(environment.entropy.uniform(below: UInt64(voters.count)))]
            let to = outsiders[Int(environment.entropy.uniform(below: UInt64(outsiders.count)))]
            send(.move(shard: shard.id, from: from, to: to))
        }
        // Refresh the map after every order, for the next one.
        self.map = nil
    }

    private func send(_ operation: ShardClientOperation) {
        sequence += 1
        pending = (sequence, operation, 0)
        transmit()
    }

    private func transmit() {
        guard let current = pending else { return }
        let request = ShardClientRequest(clientID: clientID, sequence: current.sequence, operation: current.operation)
        environment.network.send(to: configuration.servers[nextServer], bytes: request.encoded)
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }

    private func retry() {
        guard var current = pending else { return }
        nextServer = (nextServer + 1) % configuration.servers.count
        current.tries += 1
        // An order no node takes after trying each of them twice is dropped, except a
        // decommission: it is sent again after the next order (until the fault phase ends).
        guard current.tries < 2 * configuration.servers.count, now < configuration.livenessStartNanoseconds else {
            if case let .decommission(node, true) = current.operation { waitingDecommissions.append(node) }
            done()
            return
        }
        pending = current
        transmit()
    }

    private func done() {
        pending = nil
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        if !waitingDecommissions.isEmpty { issue() }
    }
}

/// Exponential draws from a node's entropy, with the simulator's portable logarithm.
enum SeededDraw {
    static func exponential(_ entropy: any Entropy, mean: Double) -> Double {
        let uniform = (Double(entropy.uniform(below: 1 << 53)) + 0.5) / Double(1 << 53)
        return -mean * PortableMath.naturalLog(uniform)
    }
}
