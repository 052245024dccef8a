/// One Raft node's consensus core, in the sans-I/O shape of etcd's raft: it is fed
/// ticks, messages and proposals, and answers with a `RaftReady` saying what to
/// persist, what to send and what to apply. It never touches a clock, a disk or a
/// network; the node shell does, in the order the Ready documents.
///
/// Features: PreVote and CheckQuorum elections, pipelined and batched replication with
/// a bound on appends in flight, commit only by counting entries of the current term,
/// snapshots sent in chunks, single-server membership changes (a configuration takes
/// effect as soon as it is in the log; one change at a time, and only after the leader
/// committed an entry of its term), leadership transfer, and ReadIndex reads.
public final class Raft {
    public let id: NodeID
    let options: RaftOptions
    let entropy: any Entropy
    let mutations: MutationSet

    public internal(set) var term: Term
    public internal(set) var vote: NodeID?
    public internal(set) var role = RaftRole.follower
    public internal(set) var leader: NodeID?
    public internal(set) var log: RaftLog
    public internal(set) var configuration: ClusterConfiguration
    /// Index of the configuration entry in force (or the snapshot's index).
    var configurationIndex: LogIndex
    /// See `HardState.repairFloor`.
    public internal(set) var repairFloor: LogIndex
    var repairFloorTerm: Term

    var progress = NodeMap<Progress>()
    var votes = NodeMap<Bool>()
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTicks = 0
    /// A leadership transfer under way, and how long it has been going.
    var transferee: NodeID?
    var transferElapsed = 0

    // ReadIndex: rounds of heartbeats confirm that this leader still leads.
    var readRound: UInt64 = 0
    var pendingReads: [PendingRead] = []
    var readsAwaitingTermCommit: [UInt64] = []
    var readStates: [ReadState] = []

    /// A snapshot arriving in chunks.
    var incomingSnapshot: IncomingSnapshot?

    var outbox: [RaftMessage] = []
    var persistedHardState: HardState

    struct PendingRead {
        var context: UInt64
        var index: LogIndex
        var round: UInt64
        var acknowledged: [NodeID]
    }

    struct IncomingSnapshot {
        var metadata: SnapshotMetadata
        var totalBytes: UInt32
        var checksum: UInt32
        var bytes: [UInt8]
    }

    public init(id: NodeID, options: RaftOptions, recovered: RaftRecoveredState, entropy: any Entropy,
                mutations: MutationSet = .none) {
        options.validate()
        self.id = id
        self.options = options
        self.entropy = entropy
        self.mutations = mutations
        let strict = !(mutations.contains(.raftSkipLogMatching) || mutations.contains(.raftCommitOldTerm)
            || mutations.contains(.raftVoteTwice) || mutations.contains(.raftAckBeforeSync))
        log = RaftLog(snapshot: recovered.snapshot, entries: recovered.entries,
            committed: recovered.hardState.commit, strict: strict)
        term = recovered.hardState.term
        vote = recovered.hardState.vote
        repairFloor = recovered.hardState.repairFloor
        repairFloorTerm = recovered.hardState.repairFloorTerm
        persistedHardState = recovered.hardState
        (configuration, configurationIndex) = log.configuration
        resetRandomizedElectionTicks()
    }

    public var hardState: HardState {
        HardState(term: term, vote: vote, commit: log.committed, repairFloor: repairFloor,
            repairFloorTerm: repairFloor == .zero ? .zero : repairFloorTerm)
    }

    /// Whether this node may start elections: a voter whose log is not awaiting repair.
    public var isPromotable: Bool {
        configuration.isVoter(id) && repairFloor == .zero
    }

    /// The leader has committed an entry of its own term, so its commit index is current.
    var hasCommittedInCurrentTerm: Bool {
        log.term(at: log.committed) == term
    }

    // MARK: inputs

    /// One unit of logical time.
    public func tick() {
        switch role {
        case .leader:
            tickLeader()
        case .follower, .preCandidate, .candidate:
            electionElapsed += 1
            if electionElapsed >= randomizedElectionTicks {
                electionElapsed = 0
                if isPromotable { campaign(transfer: false) }
            }
        }
    }

    private func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if transferee != nil {
            transferElapsed += 1
            if transferElapsed >= options.electionTicks { transferee = nil }
        }
        if electionElapsed >= options.electionTicks {
            electionElapsed = 0
            if options.checkQuorum && !quorumActive() {
                becomeFollower(term: term, leader: nil)
                return
            }
        }
        for peer in configuration.members where peer != id {
            guard var peerProgress = progress[peer], peerProgress.state == .snapshot else { continue }
            peerProgress.snapshotTicksSinceSend += 1
            progress[peer] = peerProgress
            if peerProgress.snapshotTicksSinceSend >= options.heartbeatTicks { sendSnapshotChunk(to: peer) }
        }
        if heartbeatElapsed >= options.heartbeatTicks {
            heartbeatElapsed = 0
            // Unconfirmed reads ride along, so a lost confirmation round is retried.
            broadcastHeartbeat(context: pendingReads.isEmpty ? 0 : readRound)
        }
    }

    /// How many ticks from now the next tick can make this node act (campaign, send a
    /// heartbeat, check its quorum, resend a snapshot chunk, give up a transfer). Ticks
    /// before then only count. A shell may sleep until then and deliver the ticks it
    /// slept through in one go; a message in between may only postpone the action.
    public var ticksUntilAction: Int {
        switch role {
        case .follower, .preCandidate, .candidate:
            return max(1, randomizedElectionTicks - electionElapsed)
        case .leader:
            var ticks = min(options.heartbeatTicks - heartbeatElapsed, options.electionTicks - electionElapsed)
            if transferee != nil { ticks = min(ticks, options.electionTicks - transferElapsed) }
            progress.forEach { _, peerProgress in
                if peerProgress.state == .snapshot {
                    ticks = min(ticks, options.heartbeatTicks - peerProgress.snapshotTicksSinceSend)
                }
            }
            return max(1, ticks)
        }
    }

    /// Handles a message from a peer.
    public func step(_ message: RaftMessage) {
        guard message.to == id, message.from != id else { return }
        guard admitTerm(of: message) else { return }
        switch message.body {
        case let .preVote(lastIndex, lastTerm):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: true)
        case let .vote(lastIndex, lastTerm, _):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: false)
        case let .preVoteResponse(granted):
            if role == .preCandidate { tally(message.from, granted: granted) }
        case let .voteResponse(granted):
            if role == .candidate { tally(message.from, granted: granted) }
        case let .append(prevIndex, prevTerm, entries, commit, leaderLastIndex):
            followLeader(message)
            handleAppend(from: message.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit,
                leaderLastIndex: leaderLastIndex)
        case let .heartbeat(commit, context):
            followLeader(message)
            handleHeartbeat(from: message.from, commit: commit, context: context)
        case let .snapshotChunk(metadata, totalBytes, checksum, offset, chunk):
            followLeader(message)
            handleSnapshotChunk(from: message.from, metadata: metadata, totalBytes: totalBytes,
                checksum: checksum, offset: offset, chunk: chunk)
        case let .appendResponse(success, index, hint, logLost):
            if role == .leader {
                handleAppendResponse(from: message.from, success: success, index: index, hint: hint, logLost: logLost)
            }
        case let .heartbeatResponse(context):
            if role == .leader { handleHeartbeatResponse(from: message.from, context: context) }
        case let .snapshotChunkResponse(index, nextOffset):
            if role == .leader { handleSnapshotChunkResponse(from: message.from, index: index, nextOffset: nextOffset) }
        case .timeoutNow:
            if role != .leader, isPromotable {
                campaign(transfer: true)
            }
        }
    }

    /// The term rules every message passes first. Returns false when the message is
    /// stale or must be ignored.
    private func admitTerm(of message: RaftMessage) -> Bool {
        if message.term > term {
            switch message.body {
            case .preVote, .vote:
                var transfer = false
                if case let .vote(_, _, isTransfer) = message.body { transfer = isTransfer }
                // A follower that hears from a live leader ignores candidates: this is
                // what keeps a partitioned node from deposing a healthy leader.
                let inLease = options.checkQuorum && leader != nil && electionElapsed < options.electionTicks
                if inLease && !transfer { return false }
                if case .preVote = message.body { return true }
                becomeFollower(term: message.term, leader: nil)
            case let .preVoteResponse(granted):
                // A granted pre-vote carries the term it was asked for; nothing to adopt.
                if granted { return true }
                becomeFollower(term: message.term, leader: nil)
            case .append, .heartbeat, .snapshotChunk:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: nil)
            }
            return true
        }
        if message.term < term {
            switch message.body {
            case .append, .heartbeat, .snapshotChunk:
                // Tell a deposed leader about the newer term, so it steps down.
                send(to: message.from, .appendResponse(success: false, index: .zero, hint: .zero, logLost: false))
            case .preVote:
                send(to: message.from, .preVoteResponse(granted: false))
            default:
                break
            }
            return false
        }
        return true
    }

    /// A message from the leader of this term: follow it.
    private func followLeader(_ message: RaftMessage) {
        if role != .follower || leader != message.from {
            becomeFollower(term: term, leader: message.from)
        }
        electionElapsed = 0
    }

    // MARK: roles

    func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        if newTerm > term {
            term = newTerm
            vote = nil
        }
        role = .follower
        leader = newLeader
        resetCommonState()
    }

    func becomePreCandidate() {
        precondition(role != .leader, "a leader does not pre-campaign")
        role = .preCandidate
        leader = nil
        votes.removeAll()
        electionElapsed = 0
        resetRandomizedElectionTicks()
    }

    func becomeCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        term = term.next
        vote = id
        role = .candidate
        leader = nil
        resetCommonState()
    }

    func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        role = .leader
        leader = id
        resetCommonState()
        for member in configuration.members {
            var peerProgress = Progress(next: log.lastIndex.next)
            if member == id { peerProgress.match = log.lastIndex }
            progress[member] = peerProgress
        }
        // The no-op lets this leader commit an entry of its own term, which is what
        // makes everything before it committed and its commit index current. (The
        // planted Figure 8 bug leaves it out, as the implementations that had the bug
        // did: with it, the wrong commit rule almost never shows.)
        if !mutations.contains(.raftCommitOldTerm) { appendAsLeader(kind: .noop, data: []) }
        broadcastAppend()
    }

    private func resetCommonState() {
        votes.removeAll()
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTicks()
        transferee = nil
        transferElapsed = 0
        pendingReads.removeAll()
        readsAwaitingTermCommit.removeAll()
        if role != .leader { progress.removeAll() }
    }

    func resetRandomizedElectionTicks() {
        randomizedElectionTicks = options.electionTicks + Int(entropy.uniform(below: UInt64(options.electionTicks)))
    }

    // MARK: output

    func send(to target: NodeID, _ body: RaftMessage.Body, term messageTerm: Term? = nil) {
        precondition(target != id, "a node does not message itself")
        outbox.append(RaftMessage(from: id, to: target, term: messageTerm ?? term, body: body))
    }

    /// Whether there is anything for the shell to do.
    public var hasReady: Bool {
        if !outbox.isEmpty || !readStates.isEmpty { return true }
        if log.hasWork { return true }
        return term != persistedHardState.term || vote != persistedHardState.vote
            || log.committed != persistedHardState.commit || repairFloor != persistedHardState.repairFloor
    }

    /// The next batch of work, or nil when there is none (`hasReady` and `takeReady`
    /// in one pass).
    public func nextReady() -> RaftReady? {
        guard hasReady else { return nil }
        return takeReady()
    }

    /// Hands out everything to do, in one batch, and marks it done: the shell must carry
    /// it out before handing Raft its next event (or crash trying).
    public func takeReady() -> RaftReady {
        var ready = RaftReady()
        let current = hardState
        if current != persistedHardState {
            ready.hardState = current
            persistedHardState = current
        }
        ready.snapshot = log.takePendingSnapshot()
        ready.entries = log.takeUnstable()
        ready.messages = outbox
        outbox.removeAll()
        ready.committedEntries = log.takeCommitted()
        ready.readStates = readStates
        readStates.removeAll()
        return ready
    }

    /// The application took a snapshot at an applied index: forget the log before it.
    public func compact(toSnapshotWith data: [UInt8], at index: LogIndex) -> Snapshot? {
        guard index > log.snapshot.index, index <= log.applied, let entryTerm = log.term(at: index) else { return nil }
        let snapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: entryTerm, configuration: log.configuration(at: index)),
            data: data)
        log.compact(snapshot)
        return snapshot
    }

    /// Re-reads the configuration in force after the log changed.
    func refreshConfiguration() {
        let (current, index) = log.configuration
        guard index != configurationIndex || current != configuration else { return }
        configuration = current
        configurationIndex = index
        guard role == .leader else { return }
        for member in configuration.members where progress[member] == nil {
            progress[member] = Progress(next: log.lastIndex.next)
        }
        for peer in progress.nodes where !configuration.isMember(peer) {
            progress[peer] = nil
        }
        if let transferee, !configuration.isVoter(transferee) { self.transferee = nil }
    }
}
