@testable import Aegis

/// A deterministic counter-based entropy for tests.
final class TestEntropy: Entropy {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash64.avalanche(state)
    }
}

/// Raft cores wired together in memory: the test decides which messages arrive, when
/// ticks happen, and who is cut off. Readies are "persisted" at once (there is no disk
/// here), messages queue until delivered, and committed entries are recorded per node.
final class RaftCluster {
    var nodes: [NodeID: Raft] = [:]
    /// Messages sent and not yet delivered or dropped, in send order.
    var inFlight: [RaftMessage] = []
    var applied: [NodeID: [LogEntry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    let options: RaftOptions
    let mutations: MutationSet
    /// Nodes whose messages, both ways, are dropped.
    var isolated: Set<NodeID> = []

    let ids: [NodeID]

    /// `voters` founding voters (n1 up); the other nodes start outside the cluster.
    init(size: Int, voters: Int? = nil, options: RaftOptions = RaftOptions(), mutations: MutationSet = .none) {
        ids = (1...size).map { NodeID(UInt32($0)) }
        self.options = options
        self.mutations = mutations
        let founders = Array(ids.prefix(voters ?? size))
        let configuration = ClusterConfiguration(voters: founders)
        for id in ids {
            nodes[id] = Raft(id: id, options: options,
                recovered: .bootstrap(founders.contains(id) ? configuration : .empty),
                entropy: TestEntropy(seed: UInt64(id.rawValue)), mutations: mutations)
            applied[id] = []
            readStates[id] = []
        }
        drainReadies()
    }

    /// Restarts `id` as if recovery had found its log damaged: the log is cut to its
    /// first half, and it must vote against the tail it had and wait for repair.
    func damage(_ id: UInt32) {
        let node = NodeID(id)
        let old = nodes[node]!
        let keep = Int(old.log.lastIndex.rawValue / 2)
        let entries = old.log.entries.filter { $0.index.rawValue <= UInt64(keep) }
        var hardState = old.hardState
        hardState.commit = min(hardState.commit, LogIndex(UInt64(keep)))
        hardState.repairFloor = old.log.lastIndex
        hardState.repairFloorTerm = old.log.lastTerm
        let recovered = RaftRecoveredState(hardState: hardState, snapshot: Snapshot(metadata: .empty, data: []),
            entries: entries)
        nodes[node] = Raft(id: node, options: options, recovered: recovered,
            entropy: TestEntropy(seed: UInt64(id) + 100), mutations: mutations)
        applied[node] = []
        drainReadies()
    }

    subscript(_ id: UInt32) -> Raft {
        get { nodes[NodeID(id)]! }
        set { nodes[NodeID(id)] = newValue }
    }

    func drainReadies() {
        for id in ids {
            while nodes[id]!.hasReady {
                let ready = nodes[id]!.takeReady()
                inFlight += ready.messages
                applied[id]! += ready.committedEntries
                readStates[id]! += ready.readStates
            }
        }
    }

    /// Delivers queued messages until none are left, dropping those to or from an
    /// isolated node and those `drop` refuses. Returns how many were delivered.
    @discardableResult
    func deliverAll(drop: (RaftMessage) -> Bool = { _ in false }, limit: Int = 100_000) -> Int {
        var delivered = 0
        while !inFlight.isEmpty, delivered < limit {
            let message = inFlight.removeFirst()
            if isolated.contains(message.from) || isolated.contains(message.to) || drop(message) { continue }
            nodes[message.to]?.step(message)
            delivered += 1
            drainReadies()
        }
        return delivered
    }

    func tick(_ id: UInt32, times: Int = 1) {
        for _ in 0..<times {
            self[id].tick()
            drainReadies()
        }
    }

    /// Makes `id` campaign at once (as its election timeout would) and runs the
    /// election, trying again (as the next timeout would) up to three times.
    func elect(_ id: UInt32, drop: (RaftMessage) -> Bool = { _ in false }) {
        if self[id].role == .leader {
            // A cut-off leader would have stepped down by CheckQuorum by now.
            self[id].becomeFollower(term: self[id].term, leader: nil)
        }
        for _ in 0..<3 where self[id].role != .leader {
            campaignOnce(id, drop: drop)
        }
    }

    func campaignOnce(_ id: UInt32, drop: (RaftMessage) -> Bool = { _ in false }) {
        // Followers must not be in their leader lease, or they ignore the candidate.
        for other in ids where other != NodeID(id) { nodes[other]!.electionElapsed = options.electionTicks }
        self[id].campaign(transfer: false)
        drainReadies()
        deliverAll(drop: drop)
    }

    func propose(_ id: UInt32, _ text: String) -> ProposalResult {
        let result = self[id].propose(Array(text.utf8))
        drainReadies()
        return result
    }

    /// The committed entry at `index` on each node that has committed it.
    func committedEntries(at index: LogIndex) -> [NodeID: LogEntry] {
        var result: [NodeID: LogEntry] = [:]
        for id in ids {
            if let entry = applied[id]!.first(where: { $0.index == index }) { result[id] = entry }
        }
        return result
    }

    /// Nodes that committed different entries at the same index, if any.
    func stateMachineSafetyViolation() -> LogIndex? {
        var byIndex: [UInt64: UInt64] = [:]
        for id in ids {
            for entry in applied[id]! {
                if let known = byIndex[entry.index.rawValue], known != entry.digest { return entry.index }
                byIndex[entry.index.rawValue] = entry.digest
            }
        }
        return nil
    }
}

extension RaftCluster {
    /// One line per node: role, term, log as index:term, commit — for debugging tests.
    var picture: String {
        ids.map { id in
            let raft = nodes[id]!
            let log = (raft.log.firstIndex.rawValue...max(raft.log.firstIndex.rawValue, raft.log.lastIndex.rawValue))
                .compactMap { index in raft.log.term(at: LogIndex(index)).map { "\(index):\($0.rawValue)" } }
            return "\(id) \(raft.role.rawValue) t\(raft.term.rawValue) commit=\(raft.log.committed.rawValue) [\(log.joined(separator: " "))]"
        }.joined(separator: "\n")
    }
}
