/// Elections: PreVote, votes, and the election restriction.
extension Raft {
    /// Starts an election: a pre-vote round first (so a node that cannot win never bumps
    /// the term), unless this is a leadership transfer.
    func campaign(transfer: Bool) {
        guard isPromotable else { return }
        if options.preVote && !transfer {
            becomePreCandidate()
            requestVotes(preVote: true, transfer: false)
        } else {
            becomeCandidate()
            requestVotes(preVote: false, transfer: transfer)
        }
    }

    private func requestVotes(preVote: Bool, transfer: Bool) {
        let electionTerm = preVote ? term.next : term
        votes[id] = true
        if voteOutcome() == .won {
            preVote ? startRealElection() : becomeLeader()
            return
        }
        for voter in configuration.voters where voter != id {
            let body: RaftMessage.Body = preVote
                ? .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)
                : .vote(lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: transfer)
            send(to: voter, body, term: electionTerm)
        }
    }

    private func startRealElection() {
        becomeCandidate()
        requestVotes(preVote: false, transfer: false)
    }

    enum VoteOutcome {
        case pending
        case won
        case lost
    }

    func voteOutcome() -> VoteOutcome {
        var granted = 0
        var rejected = 0
        for voter in configuration.voters {
            switch votes[voter] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        if granted >= configuration.quorum { return .won }
        if rejected > configuration.voters.count - configuration.quorum { return .lost }
        return .pending
    }

    /// Counts a (pre-)vote answer.
    func tally(_ voter: NodeID, granted: Bool) {
        guard votes[voter] == nil else { return }
        votes[voter] = granted
        switch voteOutcome() {
        case .won:
            role == .preCandidate ? startRealElection() : becomeLeader()
        case .lost:
            becomeFollower(term: term, leader: nil)
        case .pending:
            break
        }
    }

    func handleVoteRequest(_ message: RaftMessage, lastIndex: LogIndex, lastTerm: Term, preVote: Bool) {
        let mayVote: Bool
        if preVote {
            // A pre-vote is granted for a later term to anyone whose log is good enough,
            // as long as this node does not follow a live leader (checked on admission).
            mayVote = message.term > term || vote == nil || vote == message.from
        } else if mutations.contains(.raftVoteTwice) {
            mayVote = true
        } else {
            mayVote = vote == message.from || (vote == nil && leader == nil)
        }
        let granted = mayVote && log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
            && coversDamagedLog(lastIndex: lastIndex, lastTerm: lastTerm)
        if preVote {
            send(to: message.from, .preVoteResponse(granted: granted), term: granted ? message.term : term)
            return
        }
        if granted {
            vote = message.from
            electionElapsed = 0
        }
        send(to: message.from, .voteResponse(granted: granted))
    }

    /// A node whose log is awaiting repair may have lost entries it acknowledged, so it
    /// votes only for a log at least as up to date as the one it had before the damage.
    private func coversDamagedLog(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        guard repairFloor != .zero else { return true }
        guard repairFloorTerm != .unknown else { return false }
        return lastTerm > repairFloorTerm || (lastTerm == repairFloorTerm && lastIndex >= repairFloor)
    }

    /// CheckQuorum: has a quorum of voters been heard from since the last round?
    /// Resets the marks for the next round.
    func quorumActive() -> Bool {
        var active = 0
        for voter in configuration.voters {
            if voter == id {
                active += 1
                continue
            }
            if progress[voter]?.recentActive == true { active += 1 }
        }
        for peer in configuration.members where peer != id {
            progress[peer]?.recentActive = false
        }
        return active >= configuration.quorum
    }

    /// Starts handing leadership to `target`: once its log is current it is told to
    /// campaign at once. Proposals are refused meanwhile; gives up after an election
    /// timeout.
    public func transferLeadership(to target: NodeID) -> Bool {
        guard role == .leader, target != id, configuration.isVoter(target), let peer = progress[target] else {
            return false
        }
        transferee = target
        transferElapsed = 0
        if peer.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            sendAppend(to: target)
        }
        return true
    }
}
