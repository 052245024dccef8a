/// Single-server membership changes. A new configuration takes effect as soon as it is
/// in a log (Raft dissertation §4.1), so at most one may be uncommitted at a time, and
/// a leader proposes one only after committing an entry of its own term (the fix for
/// the single-server change bug found after the dissertation).
extension Raft {
    public func proposeConfigurationChange(_ change: ConfigurationChange) -> ProposalResult {
        if let refusal = proposalRefusal() { return refusal }
        guard hasCommittedInCurrentTerm else {
            return .refused("this leader has not committed an entry of its term yet; retry shortly")
        }
        guard configurationIndex <= log.committed else {
            return .refused("another membership change is still being committed; retry when it is done")
        }
        let current = configuration
        let next: ClusterConfiguration
        switch change {
        case let .addLearner(node):
            guard !current.isMember(node) else { return .refused("\(node) is already a member") }
            guard current.members.count < clusterMembersMax else {
                return .refused("the cluster already has \(clusterMembersMax) members")
            }
            next = ClusterConfiguration(voters: current.voters, learners: current.learners + [node])
        case let .promote(node):
            guard current.learners.contains(node) else { return .refused("\(node) is not a learner; add it first") }
            let match = progress[node]?.match ?? .zero
            guard match.rawValue + UInt64(options.promotionLagMax) >= log.lastIndex.rawValue else {
                return .refused("\(node) is \(log.lastIndex.rawValue - match.rawValue) entries behind; promote it when it has caught up")
            }
            next = ClusterConfiguration(voters: current.voters + [node], learners: current.learners.filter { $0 != node })
        case let .remove(node):
            guard current.isMember(node) else { return .refused("\(node) is not a member") }
            let voters = current.voters.filter { $0 != node }
            guard !voters.isEmpty else { return .refused("cannot remove the last voter") }
            next = ClusterConfiguration(voters: voters, learners: current.learners.filter { $0 != node })
        }
        let index = appendAsLeader(kind: .configuration, data: next.encoded)
        broadcastAppend()
        return .appended(index: index, term: term)
    }
}
