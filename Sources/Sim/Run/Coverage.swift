/// Rare paths the simulator can drive a run through. Each run counts how often each
/// fired, and a sweep reports them, so a scenario that never reaches the interesting
/// case (no torn tail ever recovered, no corruption ever detected) is visible.
public enum CoverageProbe: Int, CaseIterable, Sendable {
    case messageLost
    case messageDroppedByPartition
    case messageDuplicated
    case messageReordered
    case partitionStarted
    case linkClogged
    case sectorLostOnCrash
    case sectorTornOnCrash
    case directoryChangeLostOnCrash
    case writeMisdirected
    case sectorCorrupted
    case readFailed
    case writeFailed
    case crashAtDiskCall
    case processCrashed
    case processFailedStop
    case processPaused
    case heldEventsDelivered
    case recoveryFoundTornTail
    case recoveryFoundCorruption
    case clockJumped
    case livenessReached
    case raftLeaderElected
    case raftSnapshotInstalled
    case raftReadServed
    case raftMembershipChanged
    case raftTwinCopyUsed
    case raftLogDamaged
    case raftLogRepaired
    case powerFailure
    case leaderIsolated
    case storageFlush
    case storageCompaction
    case storageConflict
    case storageCorruptionDetected
    case storageTornTailCut
    case storageCopyRepaired
    case storageReopened
    case storageWriteRefused
    case storageAcknowledgedLostToDamage
    case shardSplit
    case shardReplicaCreatedByMessage
    case shardReplicaDestroyed
    case shardOnePhaseCommit
    case shardTwoPhaseCommit
    case shardTwoPhaseAbort
    case shardLockConflict
    case shardStaleMapRetried
    case shardDecisionTimeout
    case shardResolveAsked
    case shardPlacementOrder
    case shardRecoveredPrepared
    case shardRecoveredUndecided
    case shardNodeDrained
    case shardLoadSplit
    case shardReplicaRevived
    case sqlRequestResent
    case sqlRequestReplayed

    public var name: String {
        switch self {
        case .messageLost: return "network: message lost"
        case .messageDroppedByPartition: return "network: message dropped by a partition"
        case .messageDuplicated: return "network: message duplicated"
        case .messageReordered: return "network: message delayed out of order"
        case .partitionStarted: return "network: partition started"
        case .linkClogged: return "network: link clogged"
        case .sectorLostOnCrash: return "disk: unsynced sector lost on crash"
        case .sectorTornOnCrash: return "disk: unsynced sector torn on crash"
        case .directoryChangeLostOnCrash: return "disk: directory change lost on crash"
        case .writeMisdirected: return "disk: write misdirected"
        case .sectorCorrupted: return "disk: bit flip seen at read"
        case .readFailed: return "disk: read error"
        case .writeFailed: return "disk: write or sync error"
        case .crashAtDiskCall: return "process: crash inside a disk call"
        case .processCrashed: return "process: crash"
        case .processFailedStop: return "process: stopped on a disk error"
        case .processPaused: return "process: pause"
        case .heldEventsDelivered: return "process: events held while paused, delivered"
        case .recoveryFoundTornTail: return "recovery: torn log tail cut"
        case .recoveryFoundCorruption: return "recovery: corrupt record detected"
        case .clockJumped: return "clock: wall clock jump"
        case .livenessReached: return "liveness: all work finished within the bound"
        case .raftLeaderElected: return "raft: a leader elected"
        case .raftSnapshotInstalled: return "raft: a follower installed a snapshot"
        case .raftReadServed: return "raft: a read served"
        case .raftMembershipChanged: return "raft: a membership change committed"
        case .raftTwinCopyUsed: return "recovery: a frame read from its second copy"
        case .raftLogDamaged: return "recovery: own log damaged, votes withheld"
        case .raftLogRepaired: return "raft: a damaged log repaired by the leader"
        case .powerFailure: return "process: power failure (every server at once)"
        case .leaderIsolated: return "network: a leader cut off from the other servers"
        case .storageFlush: return "storage: memtable flushed to a table"
        case .storageCompaction: return "storage: tables compacted"
        case .storageConflict: return "storage: a transaction lost a conflict"
        case .storageCorruptionDetected: return "storage: damage detected, not returned as data"
        case .storageTornTailCut: return "storage: torn log tail cut at recovery"
        case .storageCopyRepaired: return "storage: a log frame or manifest copy repaired from its twin"
        case .storageReopened: return "storage: store reopened after a failed write or sync"
        case .storageWriteRefused: return "storage: an oversized write refused"
        case .storageAcknowledgedLostToDamage: return "storage: both copies of the newest log frame rotted (commit lost, beyond the fault model)"
        case .shardSplit: return "shards: a shard split (applied on a replica)"
        case .shardReplicaCreatedByMessage: return "shards: a replica created by its group's first message"
        case .shardReplicaDestroyed: return "shards: a replica removed from a node (tombstoned)"
        case .shardOnePhaseCommit: return "shards: a single-shard transaction committed in one step"
        case .shardTwoPhaseCommit: return "shards: a cross-shard transaction committed by two-phase commit"
        case .shardTwoPhaseAbort: return "shards: a cross-shard transaction aborted"
        case .shardLockConflict: return "shards: a transaction aborted on a lock conflict"
        case .shardStaleMapRetried: return "shards: a gateway answered stale-map and planned again"
        case .shardDecisionTimeout: return "shards: a coordinator aborted for missing votes"
        case .shardResolveAsked: return "shards: a participant in doubt asked its coordinator"
        case .shardPlacementOrder: return "shards: a placement order (split, replica change, leader handoff)"
        case .shardRecoveredPrepared: return "shards: a replica restarted holding a prepared transaction (crashed between prepare and decision)"
        case .shardRecoveredUndecided: return "shards: a coordinator restarted holding an undecided transaction"
        case .shardNodeDrained: return "shards: a decommissioned node ended with no replicas"
        case .shardLoadSplit: return "shards: a split ordered because a shard was busy (operations per second)"
        case .shardReplicaRevived: return "shards: a replica revived from its tombstone on a node that held the shard before"
        case .sqlRequestResent: return "shards: a SQL write sent again whole (same request identity) after no answer"
        case .sqlRequestReplayed: return "shards: a SQL write found applied by its request record (first answer replayed)"
        }
    }
}

/// Counts per probe, in probe order (never a dictionary: output order must be fixed).
public struct Coverage: Sendable, Equatable {
    public private(set) var counts = [Int](repeating: 0, count: CoverageProbe.allCases.count)

    public init() {}

    public mutating func hit(_ probe: CoverageProbe, times: Int = 1) {
        counts[probe.rawValue] += times
    }

    public subscript(probe: CoverageProbe) -> Int { counts[probe.rawValue] }
}
