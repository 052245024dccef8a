import Testing
@testable import Aegis

/// Figure 8 of the Raft paper, played move by move: a leader that commits an entry of
/// an earlier term by counting its replicas lets a later leader overwrite a committed
/// entry. The correct commit rule (count only entries of the current term) keeps the
/// same moves safe.
@Suite struct RaftFigure8Tests {
    /// Plays the figure; returns the cluster afterwards.
    private func play(mutations: MutationSet) -> RaftCluster {
        let cluster = RaftCluster(size: 5, mutations: mutations)
        // (a) n1 leads term 2 and gets its entry only to n2.
        cluster.elect(1)
        _ = cluster.propose(1, "e")
        cluster.deliverAll(drop: { $0.from == NodeID(1) && $0.to != NodeID(2) })
        // (b) n1 is cut off; n5 wins term 3 with n3 and n4, appends its own entry, and
        // is cut off before sending it anywhere.
        cluster.isolated = [NodeID(1)]
        cluster.elect(5, drop: { $0.from == NodeID(5) && $0.to == NodeID(2) })
        _ = cluster.propose(5, "f")
        cluster.inFlight.removeAll { $0.from == NodeID(5) }
        print("after b\n" + cluster.picture)
        // (c) n1 is back and wins term 4 (its log ends later than n3's and n4's). It
        // replicates its log; with the planted bug it commits the term-2 entry as soon
        // as a majority holds it. Then it is cut off again.
        cluster.isolated = [NodeID(5)]
        cluster.elect(1)
        print("after c\n" + cluster.picture)
        cluster.isolated = [NodeID(1), NodeID(5)]
        // (d) n5 returns and wins term 5 with n2, n3, n4: its last term (3) beats their 2.
        cluster.isolated = [NodeID(1)]
        cluster.elect(5)
        _ = cluster.propose(5, "g")
        cluster.deliverAll()
        for _ in 0..<3 {
            cluster.tick(5, times: 2)
            cluster.deliverAll()
        }
        print("after d\n" + cluster.picture)
        return cluster
    }

    @Test func countingReplicasOfAnOldTermLosesACommittedEntry() {
        let cluster = play(mutations: MutationSet([.raftCommitOldTerm]))
        #expect(cluster.stateMachineSafetyViolation() != nil, "the planted bug must lose a committed entry")
    }

    @Test func theCorrectRuleKeepsTheSameMovesSafe() {
        let cluster = play(mutations: .none)
        #expect(cluster.stateMachineSafetyViolation() == nil)
    }
}
