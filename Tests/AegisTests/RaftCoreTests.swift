import Testing
@testable import Aegis

/// One test per rule of the Raft paper (and of the extensions Aegis has), each played
/// on in-memory Raft cores with the test choosing every delivery.
@Suite struct RaftElectionTests {
    @Test func aCandidateWithAQuorumBecomesTheOnlyLeader() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        #expect(cluster[1].role == .leader)
        #expect(cluster[2].role == .follower && cluster[3].role == .follower)
        #expect(cluster[2].leader == NodeID(1) && cluster[3].leader == NodeID(1))
        #expect(cluster[1].term == cluster[2].term)
    }

    @Test func aNodeVotesOnceInATerm() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        let term = cluster[1].term
        #expect(cluster[2].vote == NodeID(1))
        // n3 asks n2 for its vote in the term n2 already voted in (as a transfer, so
        // the leader lease does not hide the rule being tested).
        cluster[2].step(RaftMessage(from: NodeID(3), to: NodeID(2), term: term,
            body: .vote(lastIndex: LogIndex(100), lastTerm: term, transfer: true)))
        let answer = cluster[2].takeReady().messages.last
        #expect(answer?.body == .voteResponse(granted: false))
        #expect(cluster[2].vote == NodeID(1))
    }

    @Test func thePlantedDoubleVoteElectsTwoLeadersInOneTerm() {
        let cluster = RaftCluster(size: 3, mutations: MutationSet([.raftVoteTwice]))
        // n1 and n3 campaign in the same term; the buggy n2 grants both.
        cluster[1].campaign(transfer: true)
        cluster[3].campaign(transfer: true)
        cluster.drainReadies()
        #expect(cluster[1].term == cluster[3].term)
        cluster.deliverAll(drop: { $0.from == NodeID(1) && $0.to == NodeID(3) || $0.from == NodeID(3) && $0.to == NodeID(1) })
        #expect(cluster[1].role == .leader && cluster[3].role == .leader)
        #expect(cluster[1].term == cluster[3].term)
    }

    @Test func theCorrectVoteRuleElectsOneOfTwoCandidates() {
        let cluster = RaftCluster(size: 3)
        cluster[1].campaign(transfer: true)
        cluster[3].campaign(transfer: true)
        cluster.drainReadies()
        cluster.deliverAll(drop: { $0.from == NodeID(1) && $0.to == NodeID(3) || $0.from == NodeID(3) && $0.to == NodeID(1) })
        #expect([cluster[1].role, cluster[3].role].filter { $0 == .leader }.count == 1)
    }

    @Test func aLogBehindTheVotersCannotWin() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        _ = cluster.propose(1, "a")
        cluster.deliverAll(drop: { $0.to == NodeID(3) })
        // n3 missed the entry; n1 and n2 have it and refuse n3.
        cluster.isolated = [NodeID(1)]
        cluster.elect(3)
        #expect(cluster[3].role != .leader)
        cluster.elect(2)
        #expect(cluster[2].role == .leader)
    }

    @Test func preVoteKeepsAPartitionedNodeFromRaisingTheTerm() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        let term = cluster[1].term
        cluster.isolated = [NodeID(3)]
        for _ in 0..<10 {
            cluster.tick(3, times: 50)
            cluster.deliverAll()
        }
        #expect(cluster[3].term == term, "pre-votes that cannot win never bump the term")
        cluster.isolated = []
        cluster.tick(1, times: 5)
        cluster.deliverAll()
        #expect(cluster[1].role == .leader && cluster[1].term == term)
    }

    @Test func checkQuorumStepsDownALeaderThatHearsNoOne() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        cluster.isolated = [NodeID(1)]
        cluster.tick(1, times: cluster[1].options.electionTicks * 2 + 1)
        #expect(cluster[1].role == .follower)
    }

    @Test func followersInALeaseIgnoreCandidates() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        let term = cluster[1].term
        cluster.tick(1, times: 1)
        cluster.deliverAll()
        // n3 campaigns right away, while n2 still hears from n1.
        cluster[3].becomeCandidate()
        cluster.drainReadies()
        cluster.deliverAll()
        #expect(cluster[2].term == term, "n2 did not even adopt the candidate's term")
        #expect(cluster[1].role == .leader)
    }

    @Test func leadershipTransferHandsOverAtOnce() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        _ = cluster.propose(1, "x")
        cluster.deliverAll()
        let result1 = cluster[1].transferLeadership(to: NodeID(3))
        #expect(result1)
        cluster.drainReadies()
        cluster.deliverAll()
        #expect(cluster[3].role == .leader)
        #expect(cluster[1].role == .follower)
    }
}

@Suite struct RaftReplicationTests {
    @Test func anEntryCommitsOnAQuorumAndEveryoneAppliesIt() {
        let cluster = RaftCluster(size: 5)
        cluster.elect(1)
        guard case let .appended(index, _) = cluster.propose(1, "hello") else {
            Issue.record("the leader refused a proposal")
            return
        }
        cluster.deliverAll(drop: { $0.to == NodeID(4) || $0.to == NodeID(5) })
        #expect(cluster[1].log.committed == index, "three of five hold it")
        cluster.tick(1, times: 10)
        cluster.deliverAll()
        for id in cluster.ids {
            #expect(cluster.applied[id]!.contains { $0.index == index && $0.data == Array("hello".utf8) })
        }
    }

    @Test func aMinorityCannotCommit() {
        let cluster = RaftCluster(size: 5)
        cluster.elect(1)
        let before = cluster[1].log.committed
        _ = cluster.propose(1, "x")
        cluster.deliverAll(drop: { $0.to != NodeID(2) && $0.from == NodeID(1) })
        #expect(cluster[1].log.committed == before)
    }

    @Test func aFollowerWithAConflictingTailIsTruncatedToTheLeadersLog() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        // n1 appends entries nobody receives, then loses leadership.
        _ = cluster.propose(1, "lost-1")
        _ = cluster.propose(1, "lost-2")
        cluster.inFlight.removeAll()
        cluster.isolated = [NodeID(1)]
        cluster.elect(2)
        _ = cluster.propose(2, "kept")
        cluster.deliverAll()
        cluster.isolated = []
        cluster.tick(2, times: 10)
        cluster.deliverAll()
        let leaderLog = cluster[2].log
        let followerLog = cluster[1].log
        #expect(followerLog.lastIndex == leaderLog.lastIndex)
        var index = followerLog.firstIndex
        while index <= leaderLog.lastIndex {
            #expect(followerLog.entry(at: index) == leaderLog.entry(at: index))
            index = index.next
        }
        #expect(!cluster.applied[NodeID(1)]!.contains { $0.data == Array("lost-1".utf8) })
    }

    @Test func lostAppendsAreResentAfterAHeartbeat() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        for index in 0..<20 { _ = cluster.propose(1, "e\(index)") }
        cluster.inFlight.removeAll { $0.to == NodeID(3) }
        cluster.deliverAll()
        for _ in 0..<5 {
            cluster.tick(1, times: cluster[1].options.heartbeatTicks)
            cluster.deliverAll()
        }
        #expect(cluster[3].log.lastIndex == cluster[1].log.lastIndex)
        #expect(cluster[3].log.committed == cluster[1].log.committed)
    }

    @Test func thePlantedMissingConsistencyCheckCorruptsAFollowersLog() {
        let cluster = RaftCluster(size: 3, mutations: MutationSet([.raftSkipLogMatching]))
        cluster.elect(1)
        _ = cluster.propose(1, "a")
        cluster.deliverAll()
        // An append whose previous entry n2 does not have (wrong term) is accepted anyway.
        let last = cluster[2].log.lastIndex
        cluster[2].step(RaftMessage(from: NodeID(1), to: NodeID(2), term: cluster[1].term,
            body: .append(prevIndex: last, prevTerm: Term(99), entries: [
                LogEntry(index: last.next, term: cluster[1].term, kind: .command, data: [1]),
            ], commit: .zero, leaderLastIndex: last.next)))
        #expect(cluster[2].log.lastIndex == last.next, "the bug accepted an entry after a mismatched predecessor")
    }

    @Test func aCorrectFollowerRejectsAMismatchedPredecessor() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        let last = cluster[2].log.lastIndex
        cluster[2].step(RaftMessage(from: NodeID(1), to: NodeID(2), term: cluster[1].term,
            body: .append(prevIndex: last, prevTerm: Term(99), entries: [
                LogEntry(index: last.next, term: cluster[1].term, kind: .command, data: [1]),
            ], commit: .zero, leaderLastIndex: last.next)))
        #expect(cluster[2].log.lastIndex == last)
    }
}

@Suite struct RaftSnapshotAndMembershipTests {
    @Test func aFollowerBehindTheCompactedLogCatchesUpFromAChunkedSnapshot() {
        var options = RaftOptions()
        options.snapshotChunkBytes = 16
        let cluster = RaftCluster(size: 3, options: options)
        cluster.elect(1)
        cluster.isolated = [NodeID(3)]
        for index in 0..<30 { _ = cluster.propose(1, "value-\(index)") }
        cluster.deliverAll()
        // The leader snapshots (the image is opaque to Raft) and forgets its log.
        let applied = cluster[1].log.applied
        let image = [UInt8](repeating: 7, count: 100)
        let result2 = cluster[1].compact(toSnapshotWith: image, at: applied)
        #expect(result2 != nil)
        #expect(cluster[1].log.firstIndex > LogIndex(2))
        cluster.isolated = []
        for _ in 0..<40 {
            cluster.tick(1, times: 1)
            cluster.deliverAll()
        }
        #expect(cluster[3].log.snapshot.index == applied)
        #expect(cluster[3].log.snapshotData == image)
        #expect(cluster[3].log.lastIndex == cluster[1].log.lastIndex)
    }

    @Test func aLearnerIsAddedCaughtUpAndPromotedOneChangeAtATime() {
        let cluster = RaftCluster(size: 4, voters: 3)
        cluster.elect(1)
        _ = cluster.propose(1, "a")
        cluster.deliverAll()
        guard case .appended = cluster[1].proposeConfigurationChange(.addLearner(NodeID(4))) else {
            Issue.record("adding a learner was refused")
            return
        }
        // A second change must wait for the first to commit.
        if case .appended = cluster[1].proposeConfigurationChange(.remove(NodeID(2))) {
            Issue.record("a second change was accepted while the first was uncommitted")
        }
        cluster.drainReadies()
        cluster.deliverAll()
        cluster.tick(1, times: 10)
        cluster.deliverAll()
        #expect(cluster[1].configuration.learners == [NodeID(4)])
        #expect(cluster[4].log.lastIndex == cluster[1].log.lastIndex)
        guard case .appended = cluster[1].proposeConfigurationChange(.promote(NodeID(4))) else {
            Issue.record("promotion of a caught-up learner was refused")
            return
        }
        cluster.drainReadies()
        cluster.deliverAll()
        #expect(cluster[1].configuration.voters == [NodeID(1), NodeID(2), NodeID(3), NodeID(4)])
        #expect(cluster[4].configuration.voters.count == 4)
    }

    @Test func aLeaderThatRemovesItselfStepsDownOnceTheChangeCommits() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        _ = cluster.propose(1, "a")
        cluster.deliverAll()
        guard case .appended = cluster[1].proposeConfigurationChange(.remove(NodeID(1))) else {
            Issue.record("self-removal refused")
            return
        }
        cluster.drainReadies()
        cluster.deliverAll()
        #expect(cluster[1].role == .follower)
        #expect(!cluster[1].isPromotable)
        cluster.elect(2)
        #expect(cluster[2].role == .leader)
        #expect(cluster[2].configuration.voters == [NodeID(2), NodeID(3)])
    }
}

@Suite struct RaftReadIndexTests {
    @Test func aReadWaitsForAQuorumToConfirmTheLeader() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        cluster.deliverAll()
        let result3 = cluster[1].readIndex(context: 7)
        #expect(result3 == .pending)
        cluster.drainReadies()
        #expect(cluster.readStates[NodeID(1)]!.isEmpty, "nothing confirmed before the heartbeat round")
        cluster.deliverAll()
        #expect(cluster.readStates[NodeID(1)]!.map(\.context) == [7])
        #expect(cluster.readStates[NodeID(1)]!.first?.index == cluster[1].log.committed)
    }

    @Test func aCutOffLeaderConfirmsNoRead() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        cluster.isolated = [NodeID(1)]
        let result4 = cluster[1].readIndex(context: 1)
        #expect(result4 == .pending)
        cluster.drainReadies()
        cluster.deliverAll()
        #expect(cluster.readStates[NodeID(1)]!.isEmpty)
    }

    @Test func aFollowerSendsReadsToTheLeader() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        let result5 = cluster[2].readIndex(context: 1)
        #expect(result5 == .notLeader(leader: NodeID(1)))
    }
}

@Suite struct RaftRepairTests {
    /// A node whose own log was damaged votes only for logs at least as up to date as
    /// the one it had before the damage, and campaigns not at all, until repaired.
    @Test func aDamagedNodeVotesOnlyForLogsCoveringWhatItHad() {
        var recovered = RaftRecoveredState.bootstrap(ClusterConfiguration(voters: [NodeID(1), NodeID(2), NodeID(3)]))
        recovered.hardState.term = Term(5)
        recovered.hardState.repairFloor = LogIndex(10)
        recovered.hardState.repairFloorTerm = Term(4)
        let damaged = Raft(id: NodeID(2), options: RaftOptions(), recovered: recovered, entropy: TestEntropy(seed: 2))
        #expect(!damaged.isPromotable)
        var term: UInt64 = 6
        func ask(lastIndex: UInt64, lastTerm: UInt64) -> Bool {
            term += 1
            damaged.step(RaftMessage(from: NodeID(3), to: NodeID(2), term: Term(term),
                body: .vote(lastIndex: LogIndex(lastIndex), lastTerm: Term(lastTerm), transfer: true)))
            let answer = damaged.takeReady().messages.last
            return answer?.body == .voteResponse(granted: true)
        }
        #expect(!ask(lastIndex: 9, lastTerm: 4), "shorter than the log before the damage")
        #expect(!ask(lastIndex: 50, lastTerm: 3), "an older last term")
        #expect(ask(lastIndex: 10, lastTerm: 4))
    }

    @Test func withTheDamagedTailUnknownANodeGrantsNoVote() {
        var recovered = RaftRecoveredState.bootstrap(ClusterConfiguration(voters: [NodeID(1), NodeID(2), NodeID(3)]))
        recovered.hardState.repairFloor = LogIndex(10)
        recovered.hardState.repairFloorTerm = .unknown
        let damaged = Raft(id: NodeID(2), options: RaftOptions(), recovered: recovered, entropy: TestEntropy(seed: 2))
        damaged.step(RaftMessage(from: NodeID(3), to: NodeID(2), term: Term(9),
            body: .vote(lastIndex: LogIndex(1000), lastTerm: Term(8), transfer: true)))
        #expect(damaged.takeReady().messages.last?.body == .voteResponse(granted: false))
    }

    @Test func aDamagedFollowerIsRepairedOnceItHoldsTheLeadersWholeLog() {
        let cluster = RaftCluster(size: 3)
        cluster.elect(1)
        for index in 0..<5 { _ = cluster.propose(1, "e\(index)") }
        cluster.deliverAll()
        cluster.damage(3)
        #expect(!cluster[3].isPromotable)
        for _ in 0..<6 {
            cluster.tick(1, times: cluster[1].options.heartbeatTicks)
            cluster.deliverAll()
        }
        #expect(cluster[3].repairFloor == .zero)
        #expect(cluster[3].log.lastIndex == cluster[1].log.lastIndex)
    }
}
