import Aegis

/// Raft's safety properties, checked online after every step of every node, from the
/// outside: it reads what each node persisted, committed and applied, and never
/// touches their state.
///
/// - Election safety: at most one leader per term.
/// - Log matching: an (index, term) pair names one entry, and the entry before it has
///   one term — together, by induction, any two logs that share an (index, term) agree
///   on everything up to it.
/// - State machine safety: no two nodes commit or apply different entries at an index.
/// - Leader completeness: a node that becomes leader of term T holds every entry known
///   committed in a term before T. (A candidate of an older term can still win late,
///   with votes cast before a newer term's commits; Raft promises it nothing newer.)
final class RaftSafetyChecker {
    private struct EntryIdentity {
        var term: Term
        var digest: UInt64
        var previousTerm: Term?
        var node: NodeID
    }

    private var leaders: [UInt64: NodeID] = [:]
    /// The term each node (by id) was last checked as leader in, to check each term once.
    private var leaderTermChecked: [Term?] = []
    /// Per log index (slot 0 unused), the entries seen there, one per term.
    private var identities: [[EntryIdentity]] = [[]]
    /// Digest of the committed entry at each index (1-based; slot 0 unused), who first
    /// showed it committed, and that node's term then (the term it was committed in,
    /// or a later one).
    private(set) var committed: [(digest: UInt64, node: NodeID, term: Term)?] = [nil]
    /// The highest index each node was checked committed up to, per incarnation.
    private var checkedCommit: [NodeID: (incarnation: UInt32, index: LogIndex)] = [:]
    /// Requests applied with effect, by client id then sequence number.
    private var appliedByClient: [[AppliedRequest?]] = []
    private(set) var committedConfiguration: (index: LogIndex, configuration: ClusterConfiguration)
    private(set) var leaderElections = 0

    struct RequestKey: Hashable {
        var clientID: UInt64
        var sequence: UInt64
    }

    /// Where a request took effect, if it did.
    func applied(_ key: RequestKey) -> AppliedRequest? {
        guard key.clientID < UInt64(appliedByClient.count), key.sequence < UInt64(appliedByClient[Int(key.clientID)].count)
        else { return nil }
        return appliedByClient[Int(key.clientID)][Int(key.sequence)]
    }

    private func recordApplied(_ key: RequestKey, _ request: AppliedRequest) {
        let client = Int(key.clientID)
        precondition(client < 1 << 16, "client ids in the simulator are small")
        while appliedByClient.count <= client { appliedByClient.append([]) }
        while appliedByClient[client].count <= Int(key.sequence) { appliedByClient[client].append(nil) }
        appliedByClient[client][Int(key.sequence)] = request
    }

    struct AppliedRequest {
        var index: LogIndex
        var result: KVResult
    }

    init(initialConfiguration: ClusterConfiguration) {
        committedConfiguration = (.zero, initialConfiguration)
    }

    var highestCommitted: LogIndex { LogIndex(UInt64(committed.count - 1)) }

    /// Checks `node` after it handled an event. Returns the first violation found.
    func check(_ node: KVNode, incarnation: UInt32) -> String? {
        guard let raft = node.raft else { return nil }
        let observations = node.observations
        return check(raft: raft, node: node.node, persisted: observations.persistedEntries,
            appliedEntries: observations.applied, incarnation: incarnation)
    }

    /// Checks one Raft group's replica on `node` after a step: the runs of entries it
    /// persisted, the entries it applied (with their commands, when known), its commit
    /// index and its leadership.
    func check(raft: Raft, node nodeID: NodeID, persisted: [(previousTerm: Term?, entries: [LogEntry])],
               appliedEntries: [(entry: LogEntry, command: KVStateMachine.Applied?)], incarnation: UInt32) -> String? {
        for batch in persisted {
            if let problem = checkIdentities(batch.entries, previousTerm: batch.previousTerm, node: nodeID) { return problem }
        }
        for (entry, command) in appliedEntries {
            if let problem = recordCommitted(entry.index, entry.digest, by: nodeID, term: raft.term, what: "applied") {
                return problem
            }
            noteConfiguration(entry)
            if let command, command.tookEffect {
                let key = RequestKey(clientID: command.clientID, sequence: command.sequence)
                if let earlier = applied(key) {
                    if earlier.index != entry.index {
                        return "request \(command.clientID)/\(command.sequence) took effect twice, at \(earlier.index) and \(entry.index)"
                    }
                } else {
                    recordApplied(key, AppliedRequest(index: entry.index, result: command.result))
                }
            }
        }
        if let problem = checkCommitted(raft, node: nodeID, incarnation: incarnation) { return problem }
        let slot = Int(nodeID.rawValue)
        while leaderTermChecked.count <= slot { leaderTermChecked.append(nil) }
        if raft.role == .leader, leaderTermChecked[slot] != raft.term {
            leaderTermChecked[slot] = raft.term
            if let leader = leaders[raft.term.rawValue] {
                if leader != nodeID {
                    return "two leaders in term \(raft.term.rawValue): \(leader) and \(nodeID)"
                }
            } else {
                leaders[raft.term.rawValue] = nodeID
                leaderElections += 1
                if let problem = checkLeaderCompleteness(raft, node: nodeID) { return problem }
            }
        }
        return nil
    }

    private func checkIdentities(_ entries: [LogEntry], previousTerm: Term?, node: NodeID) -> String? {
        var previous = previousTerm
        for entry in entries {
            let slot = Int(entry.index.rawValue)
            while identities.count <= slot { identities.append([]) }
            if let position = identities[slot].firstIndex(where: { $0.term == entry.term }) {
                let known = identities[slot][position]
                if known.digest != entry.digest {
                    return "log matching: \(node) and \(known.node) hold different entries at \(entry.index) in \(entry.term)"
                }
                if let knownPrevious = known.previousTerm, let previous, knownPrevious != previous {
                    return "log matching: \(node) and \(known.node) agree on \(entry.index) in \(entry.term) but not on the term before it (\(previous) vs \(knownPrevious))"
                }
                if known.previousTerm == nil, let previous {
                    identities[slot][position].previousTerm = previous
                }
            } else {
                identities[slot].append(EntryIdentity(term: entry.term, digest: entry.digest, previousTerm: previous, node: node))
            }
            previous = entry.term
        }
        return nil
    }

    /// Entries a node reports committed beyond what was checked for it.
    private func checkCommitted(_ raft: Raft, node: NodeID, incarnation: UInt32) -> String? {
        var from = LogIndex.zero
        if let checked = checkedCommit[node], checked.incarnation == incarnation { from = checked.index }
        let upTo = raft.log.committed
        guard upTo > from else { return nil }
        var index = max(from.next, raft.log.firstIndex)
        while index <= upTo {
            guard let entry = raft.log.entry(at: index) else { break }
            if let problem = recordCommitted(index, entry.digest, by: node, term: raft.term, what: "committed") { return problem }
            noteConfiguration(entry)
            index = index.next
        }
        checkedCommit[node] = (incarnation, upTo)
        return nil
    }

    private func recordCommitted(_ index: LogIndex, _ digest: UInt64, by node: NodeID, term: Term, what: String) -> String? {
        let slot = Int(index.rawValue)
        while committed.count <= slot { committed.append(nil) }
        if let known = committed[slot] {
            if known.digest != digest {
                return "state machine safety: \(node) \(what) a different entry at \(index) than \(known.node) committed"
            }
            if term < known.term { committed[slot]?.term = term }
        } else {
            committed[slot] = (digest, node, term)
        }
        return nil
    }

    private func noteConfiguration(_ entry: LogEntry) {
        guard entry.kind == .configuration, entry.index > committedConfiguration.index,
              let configuration = try? ClusterConfiguration.decode(entry.data)
        else { return }
        committedConfiguration = (entry.index, configuration)
    }

    private func checkLeaderCompleteness(_ raft: Raft, node: NodeID) -> String? {
        var index = raft.log.firstIndex
        while index.rawValue < UInt64(committed.count) {
            if let known = committed[Int(index.rawValue)], known.term < raft.term {
                guard let entry = raft.log.entry(at: index) else {
                    return "leader completeness: \(node) leads \(raft.term) without committed entry \(index)"
                }
                if entry.digest != known.digest {
                    return "leader completeness: \(node) leads \(raft.term) with a different entry at committed index \(index)"
                }
            }
            index = index.next
        }
        return nil
    }
}
