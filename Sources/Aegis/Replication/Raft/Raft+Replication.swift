/// Log replication: proposals, appends, heartbeats and the commit rule.
extension Raft {
    /// Proposes a command. Only a leader accepts, and not during a leadership transfer
    /// or when too much is uncommitted.
    public func propose(_ data: [UInt8]) -> ProposalResult {
        if let refusal = proposalRefusal() { return refusal }
        let index = appendAsLeader(kind: .command, data: data)
        broadcastAppend()
        return .appended(index: index, term: term)
    }

    func proposalRefusal() -> ProposalResult? {
        guard role == .leader else { return .notLeader(leader: leader) }
        guard transferee == nil else { return .refused("leadership is being transferred; retry shortly") }
        guard log.lastIndex.rawValue - log.committed.rawValue < UInt64(options.uncommittedEntriesMax) else {
            return .refused("the leader has \(options.uncommittedEntriesMax) uncommitted entries; retry shortly")
        }
        return nil
    }

    @discardableResult
    func appendAsLeader(kind: EntryKind, data: [UInt8]) -> LogIndex {
        let entry = LogEntry(index: log.lastIndex.next, term: term, kind: kind, data: data)
        log.append(entry)
        if kind == .configuration { refreshConfiguration() }
        if progress[id] != nil {
            _ = progress[id]!.update(match: log.lastIndex)
        }
        maybeCommit()
        return entry.index
    }

    func broadcastAppend() {
        for peer in configuration.members where peer != id {
            sendAppend(to: peer)
        }
    }

    func broadcastHeartbeat(context: UInt64 = 0) {
        for peer in configuration.members where peer != id {
            guard let peerProgress = progress[peer] else { continue }
            send(to: peer, .heartbeat(commit: min(peerProgress.match, log.committed), context: context))
        }
    }

    /// Sends `peer` what it lacks, if its progress allows another message. With
    /// `evenIfEmpty` false, sends nothing when there is nothing new.
    func sendAppend(to peer: NodeID, evenIfEmpty: Bool = true) {
        guard var peerProgress = progress[peer], !peerProgress.isPaused(inflightMax: options.inflightMessagesMax) else {
            return
        }
        let prevIndex = peerProgress.next.previous
        guard let prevTerm = log.term(at: prevIndex),
              let entries = log.entries(from: peerProgress.next, countMax: options.entriesPerMessageMax,
                  bytesMax: options.bytesPerMessageMax)
        else {
            peerProgress.becomeSnapshot(index: log.snapshot.index)
            progress[peer] = peerProgress
            sendSnapshotChunk(to: peer)
            return
        }
        if entries.isEmpty && !evenIfEmpty { return }
        send(to: peer, .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: log.committed,
            leaderLastIndex: log.lastIndex))
        switch peerProgress.state {
        case .replicate:
            if let last = entries.last {
                peerProgress.next = last.index.next
                peerProgress.inflight.append(last.index)
            }
        case .probe:
            peerProgress.probeSent = true
        case .snapshot:
            preconditionFailure("appends are paused while a snapshot is sent")
        }
        progress[peer] = peerProgress
    }

    /// Follower side of AppendEntries.
    func handleAppend(
        from leaderID: NodeID, prevIndex: LogIndex, prevTerm: Term, entries: [LogEntry], commit: LogIndex,
        leaderLastIndex: LogIndex
    ) {
        if prevIndex < log.committed {
            // Everything up to the commit index already matches; say so.
            send(to: leaderID, .appendResponse(success: true, index: log.committed, hint: .zero, logLost: false))
            return
        }
        let matches = log.matchTerm(prevIndex, prevTerm)
            || (mutations.contains(.raftSkipLogMatching) && prevIndex <= log.lastIndex && prevIndex >= log.snapshot.index)
        guard matches else {
            send(to: leaderID, .appendResponse(success: false, index: prevIndex, hint: rejectionHint(prevIndex, prevTerm),
                logLost: repairFloor != .zero))
            return
        }
        let lastNew = log.appendMatching(after: prevIndex, entries)
        refreshConfiguration()
        log.commit(to: min(commit, lastNew))
        if lastNew == leaderLastIndex { noteRepaired() }
        send(to: leaderID, .appendResponse(success: true, index: lastNew, hint: .zero, logLost: false))
    }

    /// Where the leader should probe next: the last index at or below `prevIndex` whose
    /// term is no later than `prevTerm`, so whole runs of conflicting terms are skipped.
    private func rejectionHint(_ prevIndex: LogIndex, _ prevTerm: Term) -> LogIndex {
        var hint = min(prevIndex, log.lastIndex)
        while hint > log.snapshot.index, let termThere = log.term(at: hint), termThere > prevTerm {
            hint = hint.previous
        }
        return hint
    }

    func handleHeartbeat(from leaderID: NodeID, commit: LogIndex, context: UInt64) {
        // The leader sends min(our match, its commit), so this never passes our log.
        log.commit(to: min(commit, log.lastIndex))
        send(to: leaderID, .heartbeatResponse(context: context))
        if repairFloor != .zero {
            // The leader may think this log longer than it is since the damage; say so,
            // or with no new writes to send it would never repair it.
            send(to: leaderID, .appendResponse(success: false, index: .zero, hint: log.lastIndex, logLost: true))
        }
    }

    func handleAppendResponse(from peer: NodeID, success: Bool, index: LogIndex, hint: LogIndex, logLost: Bool) {
        guard var peerProgress = progress[peer] else { return }
        peerProgress.recentActive = true
        if !success && logLost && hint < peerProgress.match {
            // The follower's log was damaged and cut below what it had acknowledged.
            peerProgress.match = hint
            peerProgress.becomeProbe()
            progress[peer] = peerProgress
            sendAppend(to: peer)
            return
        }
        if !success {
            if peerProgress.decrease(rejected: index, hint: hint) {
                if peerProgress.state == .replicate { peerProgress.becomeProbe() }
                progress[peer] = peerProgress
                sendAppend(to: peer)
            } else {
                progress[peer] = peerProgress
            }
            return
        }
        let learned = peerProgress.update(match: index)
        if learned {
            switch peerProgress.state {
            case .probe:
                peerProgress.becomeReplicate()
            case .snapshot:
                if peerProgress.match >= peerProgress.snapshotIndex {
                    peerProgress.becomeProbe()
                    peerProgress.becomeReplicate()
                }
            case .replicate:
                break
            }
        }
        progress[peer] = peerProgress
        guard learned else { return }
        // A new commit index reaches followers with the next append or heartbeat; no
        // message just for it.
        maybeCommit()
        sendAppend(to: peer, evenIfEmpty: false)
        // Keep streaming while the window allows.
        while let current = progress[peer], current.state == .replicate, current.next <= log.lastIndex,
              !current.isPaused(inflightMax: options.inflightMessagesMax) {
            sendAppend(to: peer, evenIfEmpty: false)
        }
        if peer == transferee, progress[peer]?.match == log.lastIndex {
            send(to: peer, .timeoutNow)
        }
    }

    func handleHeartbeatResponse(from peer: NodeID, context: UInt64) {
        guard var peerProgress = progress[peer] else { return }
        peerProgress.recentActive = true
        peerProgress.probeSent = false
        if peerProgress.state == .replicate, peerProgress.inflight.count >= options.inflightMessagesMax {
            // Appends may have been lost; free a slot so replication cannot stall.
            peerProgress.inflight.removeFirst()
        }
        progress[peer] = peerProgress
        if peerProgress.match < log.lastIndex { sendAppend(to: peer) }
        if context != 0 { acknowledgeReadRound(from: peer, round: context) }
    }

    /// Advances the commit index to the highest index a quorum of voters holds — but
    /// only if that entry is of the current term (Raft §5.4.2; entries of earlier terms
    /// commit with it). Returns whether it moved.
    @discardableResult
    func maybeCommit() -> Bool {
        guard role == .leader, !configuration.voters.isEmpty else { return false }
        var matches: [LogIndex] = []
        for voter in configuration.voters {
            matches.append(voter == id ? log.lastIndex : progress[voter]?.match ?? .zero)
        }
        matches.sort(by: >)
        let candidate = matches[configuration.quorum - 1]
        guard candidate > log.committed else { return false }
        guard log.term(at: candidate) == term || mutations.contains(.raftCommitOldTerm) else { return false }
        log.commit(to: candidate)
        releaseReadsAwaitingTermCommit()
        if !configuration.isVoter(id), configurationIndex <= log.committed {
            // This leader removed itself and the change is committed: tell the others,
            // then step down.
            broadcastAppend()
            becomeFollower(term: term, leader: nil)
        }
        return true
    }

    /// This node's log now holds the whole log of a leader of its current term. A
    /// damaged log is then repaired: whatever it acknowledged before the damage and was
    /// committed is in that leader's log (leader completeness), hence in ours.
    func noteRepaired() {
        repairFloor = .zero
    }
}
