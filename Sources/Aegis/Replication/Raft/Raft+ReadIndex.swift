/// ReadIndex: a linearizable read without writing to the log. The leader notes its
/// commit index, confirms with a heartbeat round that a quorum still follows it, and
/// then the read may be served once that index is applied.
extension Raft {
    public enum ReadIndexResult: Sendable, Equatable {
        /// The read's index will arrive as a `ReadState` with this context.
        case pending
        case notLeader(leader: NodeID?)
    }

    public func readIndex(context: UInt64) -> ReadIndexResult {
        guard role == .leader else { return .notLeader(leader: leader) }
        guard hasCommittedInCurrentTerm else {
            // Until its no-op commits, a new leader's commit index may be behind.
            readsAwaitingTermCommit.append(context)
            return .pending
        }
        startRead(context: context)
        return .pending
    }

    private func startRead(context: UInt64) {
        if configuration.voters == [id] {
            readStates.append(ReadState(context: context, index: log.committed))
            return
        }
        readRound += 1
        let acknowledged: [NodeID] = configuration.isVoter(id) ? [id] : []
        pendingReads.append(PendingRead(context: context, index: log.committed, round: readRound, acknowledged: acknowledged))
        broadcastHeartbeat(context: readRound)
    }

    func releaseReadsAwaitingTermCommit() {
        guard !readsAwaitingTermCommit.isEmpty, hasCommittedInCurrentTerm else { return }
        let waiting = readsAwaitingTermCommit
        readsAwaitingTermCommit.removeAll()
        for context in waiting { startRead(context: context) }
    }

    /// A heartbeat answer for `round` confirms every read started in that round or before.
    func acknowledgeReadRound(from peer: NodeID, round: UInt64) {
        guard configuration.isVoter(peer) else { return }
        for position in pendingReads.indices where pendingReads[position].round <= round {
            if !pendingReads[position].acknowledged.contains(peer) {
                pendingReads[position].acknowledged.append(peer)
            }
        }
        while let first = pendingReads.first, first.acknowledged.filter(configuration.isVoter).count >= configuration.quorum {
            readStates.append(ReadState(context: first.context, index: first.index))
            pendingReads.removeFirst()
        }
    }

    /// Reads this leader was confirming, dropped because it stopped leading.
    public var pendingReadContexts: [UInt64] {
        pendingReads.map(\.context) + readsAwaitingTermCommit
    }
}
