/// How a brand-new sharded cluster starts: the meta group on the first
/// `replicationFactor` nodes, and data shards over the given split keys, each on
/// `replicationFactor` nodes in turn. Every founding node computes the same layout from
/// the same settings, so they all create the same groups with the same first state.
public struct ShardLayout: Sendable, Equatable {
    public struct Founding: Sendable, Equatable {
        public var id: ShardID
        public var range: KeySpan
        public var voters: [NodeID]
    }

    public var nodes: [NodeID]
    public var metaVoters: [NodeID]
    public var shards: [Founding]
    public var replicationFactor: Int

    public init(nodes: [NodeID], splitKeys: [[UInt8]], replicationFactor: Int = 3) {
        let sortedNodes = Array(Set(nodes)).sorted()
        precondition(!sortedNodes.isEmpty, "a cluster needs a node")
        let factor = max(1, min(replicationFactor, sortedNodes.count))
        self.nodes = sortedNodes
        self.replicationFactor = factor
        metaVoters = Array(sortedNodes.prefix(factor))
        let keys = Array(Set(splitKeys.map { $0 })).filter { !$0.isEmpty }.sorted { $0.lexicographicallyPrecedes($1) }
        shards = ShardMap.ranges(splitKeys: keys).enumerated().map { position, range in
            let voters = (0..<factor).map { sortedNodes[(position + $0) % sortedNodes.count] }.sorted()
            return Founding(id: ShardID(UInt32(position + 1)), range: range, voters: voters)
        }
    }

    /// The first map: every shard at generation 1, its founding voters at the creation index.
    public var initialMap: ShardMap {
        let meta = ShardDescriptor(id: .meta, range: .everything, generation: 1,
            replicas: ClusterConfiguration(voters: metaVoters), configurationIndex: ShardStateMachine.creationIndex)
        return ShardMap(meta: meta, shards: shards.map {
            ShardDescriptor(id: $0.id, range: $0.range, generation: 1, replicas: ClusterConfiguration(voters: $0.voters),
                configurationIndex: ShardStateMachine.creationIndex)
        }, nodes: nodes)
    }

    /// The groups `node` founds, with the state each starts from.
    public func foundedGroups(on node: NodeID, options: ShardStateMachine.Options) -> [(group: ShardID, state: RaftRecoveredState)] {
        var groups: [(group: ShardID, state: RaftRecoveredState)] = []
        if metaVoters.contains(node) {
            groups.append((.meta, ShardLayout.creationState(configuration: ClusterConfiguration(voters: metaVoters), data: MetaStateMachine(map: initialMap).snapshot())))
        }
        for shard in shards where shard.voters.contains(node) {
            let machine = ShardStateMachine.creating(id: shard.id, range: shard.range, options: options)
            groups.append((shard.id, ShardLayout.creationState(configuration: ClusterConfiguration(voters: shard.voters), data: machine.snapshot())))
        }
        return groups
    }

    /// A group's first state: a snapshot at the creation index holding `data`, so a
    /// replica added later gets the same start as a founder (by snapshot).
    public static func creationState(configuration: ClusterConfiguration, data: [UInt8], hardState: HardState? = nil)
        -> RaftRecoveredState {
        let metadata = SnapshotMetadata(index: ShardStateMachine.creationIndex, term: ShardStateMachine.creationTerm,
            configuration: configuration)
        var state = HardState(term: ShardStateMachine.creationTerm, commit: ShardStateMachine.creationIndex)
        if let existing = hardState, existing.term >= state.term {
            state.term = existing.term
            state.vote = existing.vote
        }
        return RaftRecoveredState(hardState: state, snapshot: Snapshot(metadata: metadata, data: data), entries: [])
    }
}
