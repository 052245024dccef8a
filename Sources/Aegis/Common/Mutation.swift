/// A planted bug: a deliberately wrong variant of engine or simulator code, switched
/// on by name (`aegis sim run --mutation NAME`) to prove that the checkers catch what
/// they exist to catch. Production code never enables one; each is a single `if` at
/// the place the bug lives.
public enum Mutation: String, Sendable, CaseIterable {
    // The probe protocol (Sources/Sim/Probe).
    case probeSkipSync = "probe-skip-sync"
    case probeIgnoreChecksum = "probe-ignore-checksum"
    case probeNoGossip = "probe-no-gossip"
    // Raft (Sources/Aegis/Replication) and the node shell (Sources/Aegis/Node).
    case raftVoteTwice = "raft-vote-twice"
    case raftCommitOldTerm = "raft-commit-old-term"
    case raftAckBeforeSync = "raft-ack-before-sync"
    case raftSkipLogMatching = "raft-skip-log-matching"
    case raftFollowerRead = "raft-follower-read"
    // The storage engine (Sources/Aegis/Storage).
    case storageSkipWALSync = "storage-skip-wal-sync"
    case storageManifestRenameBeforeSync = "storage-manifest-rename-before-sync"
    case storageIgnoreBlockChecksum = "storage-ignore-block-checksum"
    // SQL on Raft (Sources/Aegis/Query, Sources/Aegis/Node).
    case sqlCommitFailedTransaction = "sql-commit-failed-transaction"
    // Sharding and two-phase commit (Sources/Aegis/Node/Shards).
    case txnCommitWithoutPrepare = "txn-commit-without-prepare"
    case txnForgetDecision = "txn-forget-decision"
    case txnReleaseLocksEarly = "txn-release-locks-early"
    case shardStaleRoute = "shard-stale-route"
    // SQL on the sharded store (Sources/Aegis/Node/ShardSQL).
    case sqlShardUncheckedReads = "sql-shard-unchecked-reads"
    case sqlShardNoRequestRecord = "sql-shard-no-request-record"

    /// One line for `aegis sim mutations`.
    public var summary: String {
        switch self {
        case .probeSkipSync:
            return "probe: acknowledge a write without syncing the log, so a crash loses acknowledged data"
        case .probeIgnoreChecksum:
            return "probe: accept log records whose checksum fails, so corrupt data is served"
        case .probeNoGossip:
            return "probe: never run anti-entropy, so replicas that missed an item never converge"
        case .raftVoteTwice:
            return "raft: grant a vote in a term where this node already voted for another candidate"
        case .raftCommitOldTerm:
            return "raft: commit an entry of an earlier term by counting its replicas, with no no-op at election (the Figure 8 bug)"
        case .raftAckBeforeSync:
            return "raft: acknowledge appends and grant votes without syncing the log and term to disk"
        case .raftSkipLogMatching:
            return "raft: accept AppendEntries without checking the previous entry's index and term"
        case .raftFollowerRead:
            return "raft: serve reads from any node's local state, without ReadIndex"
        case .storageSkipWALSync:
            return "storage: acknowledge a commit without syncing the write-ahead log, so a crash loses it"
        case .storageManifestRenameBeforeSync:
            return "storage: rename a new manifest into place before syncing it, so a crash can leave a damaged manifest"
        case .storageIgnoreBlockChecksum:
            return "storage: use a table block whose checksum fails, so corrupt bytes are returned as data"
        case .sqlCommitFailedTransaction:
            return "sql: commit a request's transaction that failed part-way instead of rolling it back, so half a transfer takes effect"
        case .txnCommitWithoutPrepare:
            return "2pc: the coordinator commits on the first yes vote, without every participant's prepare"
        case .txnForgetDecision:
            return "2pc: the coordinator keeps its commit decision in memory only (never in its log), so a new leader forgets it and aborts"
        case .txnReleaseLocksEarly:
            return "2pc: a participant takes no locks at prepare, so other transactions run over its keys before the decision"
        case .shardStaleRoute:
            return "sharding: a shard serves keys outside its range instead of answering stale-map, so a stale route is never retried"
        case .sqlShardUncheckedReads:
            return "sql on shards: a request commits its writes without re-checking what it read, so updates computed on stale reads are lost"
        case .sqlShardNoRequestRecord:
            return "sql on shards: a request with an identity commits without its request record, so a retry after a lost answer applies again"
        }
    }
}

/// The planted bugs switched on for one run. Membership only: never iterated in an
/// order that could reach behaviour.
public struct MutationSet: Sendable, Equatable {
    private var bits: UInt64 = 0

    public init() {}

    public init<S: Sequence>(_ mutations: S) where S.Element == Mutation {
        for mutation in mutations { insert(mutation) }
    }

    public static let none = MutationSet()

    private static func bit(_ mutation: Mutation) -> UInt64 {
        let position = Mutation.allCases.firstIndex(of: mutation)!
        return UInt64(1) << UInt64(position)
    }

    public mutating func insert(_ mutation: Mutation) {
        bits |= MutationSet.bit(mutation)
    }

    public func contains(_ mutation: Mutation) -> Bool {
        bits & MutationSet.bit(mutation) != 0
    }

    /// The members in declaration order.
    public var members: [Mutation] { Mutation.allCases.filter(contains) }
}
