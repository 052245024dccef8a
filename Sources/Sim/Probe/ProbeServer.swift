import Aegis

/// The probe protocol's server: a replicated grow-only set, durable on disk, spread by
/// quorum-acknowledged replication plus anti-entropy gossip. It exists to exercise the
/// simulator's doors and checkers until Raft replaces it; it is not a product protocol.
///
/// A put is acknowledged to the client once `ackQuorum` servers (this one included)
/// have the item synced to their logs. Gossip repairs anything a replica lost to a
/// crash, a torn tail, or a corrupt record cut from its log.
final class ProbeServer: NodeProcess {
    struct Configuration {
        var peers: [NodeID]
        var ackQuorum: Int
        var gossipIntervalNanoseconds: UInt64
        var retransmitIntervalNanoseconds: UInt64
        var mutations: [Mutation]
    }

    private struct PendingPut {
        var client: NodeID
        var item: ProbeItem
        var acknowledgedBy: [NodeID]
    }

    private let environment: NodeEnvironment
    private let configuration: Configuration
    private var log: ProbeLog?
    private(set) var items: [UInt64: UInt64] = [:]
    /// The ids of `items`, kept sorted: digests are built and compared without sorting.
    private var sortedIDs: [UInt64] = []
    /// Every item this incarnation added to its state, in order: recovered ones first.
    /// Read by checkers only.
    private(set) var appliedLog: [ProbeItem] = []
    private(set) var recoveryNote: ProbeLog.RecoveryNote?
    private var pending: [UInt64: PendingPut] = [:]
    private var gossipTimer: TimerID?
    private var retransmitTimer: TimerID?

    static let pendingMax = 4_096

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
    }

    private func has(_ mutation: Mutation) -> Bool {
        configuration.mutations.contains(mutation)
    }

    func start() throws(DiskError) {
        let (log, recovered, note) = try ProbeLog.open(
            disk: environment.disk, skipChecksum: has(.probeIgnoreChecksum))
        self.log = log
        recoveryNote = note
        for item in recovered where items[item.id] == nil {
            apply(item)
        }
        armGossip()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == gossipTimer {
                gossip()
                armGossip()
            } else if timer == retransmitTimer {
                retransmitTimer = nil
                retransmit()
            }
        case let .message(source, bytes):
            guard let message = try? ProbeMessage.decode(bytes) else { return }
            try receive(message, from: source)
        }
    }

    private func receive(_ message: ProbeMessage, from source: NodeID) throws(DiskError) {
        switch message {
        case let .put(item):
            try put(item, client: source)
        case let .store(item):
            try persist([item])
            send(.stored(id: item.id), to: source)
        case let .stored(id):
            acknowledge(id, by: source)
        case let .digest(wantReply, ids):
            answerDigest(wantReply: wantReply, ids: ids, from: source)
        case let .items(received):
            try persist(received)
        case .putAcknowledged:
            break
        }
    }

    private func put(_ item: ProbeItem, client: NodeID) throws(DiskError) {
        if var waiting = pending[item.id] {
            waiting.client = client
            pending[item.id] = waiting
            return
        }
        if items[item.id] != nil && configuration.ackQuorum <= 1 {
            send(.putAcknowledged(id: item.id), to: client)
            return
        }
        guard pending.count < ProbeServer.pendingMax else { return }
        try persist([item])
        pending[item.id] = PendingPut(client: client, item: item, acknowledgedBy: [environment.node])
        for peer in configuration.peers {
            send(.store(item), to: peer)
        }
        completeIfQuorum(item.id)
        armRetransmit()
    }

    private func acknowledge(_ id: UInt64, by peer: NodeID) {
        guard var waiting = pending[id] else { return }
        if !waiting.acknowledgedBy.contains(peer) {
            waiting.acknowledgedBy.append(peer)
        }
        pending[id] = waiting
        completeIfQuorum(id)
    }

    private func completeIfQuorum(_ id: UInt64) {
        guard let waiting = pending[id], waiting.acknowledgedBy.count >= configuration.ackQuorum else { return }
        pending[id] = nil
        send(.putAcknowledged(id: id), to: waiting.client)
    }

    private func retransmit() {
        for id in pending.keys.sorted() {
            guard let waiting = pending[id] else { continue }
            for peer in configuration.peers where !waiting.acknowledgedBy.contains(peer) {
                send(.store(waiting.item), to: peer)
            }
        }
        armRetransmit()
    }

    private func armRetransmit() {
        guard retransmitTimer == nil, !pending.isEmpty else { return }
        retransmitTimer = environment.timers.arm(afterNanoseconds: configuration.retransmitIntervalNanoseconds)
    }

    private func armGossip() {
        // Jitter keeps replicas from gossiping in lock step.
        let jitter = environment.entropy.uniform(below: configuration.gossipIntervalNanoseconds / 2 + 1)
        gossipTimer = environment.timers.arm(afterNanoseconds: configuration.gossipIntervalNanoseconds + jitter)
    }

    private func gossip() {
        guard !has(.probeNoGossip), !configuration.peers.isEmpty else { return }
        let peer = configuration.peers[Int(environment.entropy.uniform(below: UInt64(configuration.peers.count)))]
        send(.digest(wantReply: true, ids: Array(sortedIDs.prefix(ProbeMessage.idsPerDigestMax))), to: peer)
    }

    private func answerDigest(wantReply: Bool, ids: [UInt64], from peer: NodeID) {
        guard !has(.probeNoGossip) else { return }
        let theirs = ids.isSorted ? ids : ids.sorted()
        var missing: [UInt64] = []
        var cursor = 0
        var skippedTheirs = false
        for id in sortedIDs {
            while cursor < theirs.count, theirs[cursor] < id {
                skippedTheirs = true
                cursor += 1
            }
            if cursor < theirs.count, theirs[cursor] == id {
                cursor += 1
            } else {
                missing.append(id)
            }
        }
        let iLackSome = skippedTheirs || cursor < theirs.count
        for chunk in stride(from: 0, to: missing.count, by: ProbeMessage.itemsPerMessageMax) {
            let slice = missing[chunk..<min(chunk + ProbeMessage.itemsPerMessageMax, missing.count)]
            send(.items(slice.map { ProbeItem(id: $0, value: items[$0]!) }), to: peer)
        }
        if wantReply, iLackSome {
            send(.digest(wantReply: false, ids: Array(sortedIDs.prefix(ProbeMessage.idsPerDigestMax))), to: peer)
        }
    }

    /// Appends the new items to the log and syncs it before they count as held.
    private func persist(_ incoming: [ProbeItem]) throws(DiskError) {
        var fresh: [ProbeItem] = []
        var seen: Set<UInt64> = []
        for item in incoming where items[item.id] == nil && seen.insert(item.id).inserted {
            fresh.append(item)
        }
        guard !fresh.isEmpty, var log else { return }
        try log.append(fresh)
        if !has(.probeSkipSync) {
            try log.sync()
        }
        self.log = log
        for item in fresh { apply(item) }
    }

    private func apply(_ item: ProbeItem) {
        precondition(items[item.id] == nil, "an item is applied once per incarnation")
        items[item.id] = item.value
        appliedLog.append(item)
        var low = 0
        var high = sortedIDs.count
        while low < high {
            let middle = (low + high) / 2
            if sortedIDs[middle] < item.id { low = middle + 1 } else { high = middle }
        }
        sortedIDs.insert(item.id, at: low)
    }

    private func send(_ message: ProbeMessage, to target: NodeID) {
        environment.network.send(to: target, bytes: message.encode())
    }
}

extension Array where Element == UInt64 {
    var isSorted: Bool {
        indices.dropFirst().allSatisfy { self[$0 - 1] <= self[$0] }
    }
}
