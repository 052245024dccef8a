import Aegis

/// A closed interval a value is drawn from, once per seed. A scenario writes either a
/// single value (`0.1`) or a range (`[0.0, 0.3]`).
public struct DrawRange: Equatable, Sendable {
    public var lower: Double
    public var upper: Double

    public init(_ lower: Double, _ upper: Double) {
        precondition(lower <= upper, "a draw range must not be inverted")
        self.lower = lower
        self.upper = upper
    }

    public static func fixed(_ value: Double) -> DrawRange { DrawRange(value, value) }
    public static let zero = DrawRange.fixed(0)

    public var isZero: Bool { lower == 0 && upper == 0 }
}

/// The outcome a scenario expects of every seed.
public enum ExpectedOutcome: String, Sendable, CaseIterable {
    case pass
    case safetyViolation = "safety_violation"
    case livenessViolation = "liveness_violation"
}

/// What a scenario checks. `integrity`, `raft-safety`, `linearizability` and
/// `durability` are safety checks; `convergence` and `liveness` are judged at the end
/// of the liveness phase.
public enum CheckName: String, Sendable, CaseIterable {
    case integrity
    case raftSafety = "raft-safety"
    case linearizability
    case durability
    case convergence
    case liveness
    /// The SQL bank: every sum read and the final state hold the money it started with.
    case conservation
    /// The list-append history is serializable (no G0, G1a, G1b, G1c, G-single or G2),
    /// and commit timestamps follow its dependencies.
    case serializability
    /// Two-phase commit: no participant was told to commit what it never prepared, and
    /// after healing no transaction is left in doubt and every shard has a leader.
    case atomicity
}

/// The workloads a scenario can run.
public enum WorkloadKind: String, Sendable, CaseIterable {
    /// The probe protocol: a quorum-acknowledged, gossip-repaired grow-only set.
    case gset
    /// Raft key-value registers: read, write and compare-and-set on a few keys.
    case register
    /// One storage node (LSM tree and MVCC transactions) under transfers, writes,
    /// reads and scans, crashed at random and judged after every recovery.
    case storage
    /// Raft SQL: bank transfers (two UPDATEs inside BEGIN … COMMIT, a CHECK keeping
    /// balances non-negative) and sums of every balance, on `keys` accounts.
    case sqlBank = "sql-bank"
    /// Sharded nodes: bank transfers between accounts spread over the shards, as
    /// transactions (one shard commits in one step, several by two-phase commit), and
    /// reads of every balance at once. The total never changes; no read sees half a transfer.
    case shardBank = "shard-bank"
    /// Sharded nodes: transactions of appends to and reads of whole lists, judged by an
    /// Elle-style dependency-graph checker for serializability.
    case listAppend = "list-append"
    /// Sharded nodes speaking SQL: the `sql-bank` transfers and sums, each request run
    /// by a client on what it reads from the shards and committed as one transaction.
    case shardSQLBank = "shard-sql-bank"

    /// Whether it runs on sharded nodes (`ShardNode`).
    public var isSharded: Bool { self == .shardBank || self == .listAppend || self == .shardSQLBank }
}

/// Sharding for the sharded workloads (`shards:` in a scenario).
public struct ShardSpec: Equatable, Sendable {
    /// Data shards at the start, over evenly spread split keys of the workload's keys.
    public var initial = 4
    public var replicationFactor = 3
    /// Split a shard with more keys than this (0: only on operator orders).
    public var splitKeysMin = 0
    /// Split a shard busier than this many transaction operations per second (0: never by load).
    public var splitOperationsPerSecondMin = 0.0
    public var rebalance = true
    /// Operator orders an admin client sends at random: split a shard, move a replica.
    public var splitsPerMinute = 0.0
    public var movesPerMinute = 0.0
    /// Operations per transaction (list-append), drawn up to this.
    public var transactionOperationsMax = 4
    /// Nodes the operator decommissions during the fault phase (each drawn at random):
    /// the placement driver must move every replica off them by the liveness bound.
    public var decommissions = 0

    public var operatorIsActive: Bool { splitsPerMinute > 0 || movesPerMinute > 0 || decommissions > 0 }
}

/// The storage engine's settings for the storage workload (`storage:` in a scenario).
public struct StorageSpec: Equatable, Sendable {
    /// Bank accounts the transfers move money between.
    public var accounts = 8
    /// Block compression, one drawn per seed from this list.
    public var compression: [BlockCompression] = [.none, .lz4, .zstd(level: 3)]
    public var memtableBytes = 16 << 10
    public var tableBytes = 8 << 10
    public var blockBytes = 512
    public var cacheBytes = 16 << 10
    /// How long the server gathers commits before one sync acknowledges them all.
    public var groupCommitNanoseconds: UInt64 = 2 * Nanoseconds.perMillisecond
    /// The largest value a write carries (values are drawn up to it).
    public var valueBytesMax = 200
    /// The share of writes that carry a value over the engine's limit, to be refused.
    public var oversizedShare = 0.02
}

/// The workload's knobs. `ack_quorum` and `gossip_interval` belong to gset; `keys`,
/// the mix and `operation_timeout` to register.
public struct WorkloadSpec: Equatable, Sendable {
    public var kind = WorkloadKind.gset
    public var clients = 3
    public var operations = 100
    public var ackQuorum = 2
    public var requestTimeoutNanoseconds: UInt64 = 500 * Nanoseconds.perMillisecond
    public var thinkTimeNanoseconds = DrawRange(1e6, 50e6)
    public var gossipIntervalNanoseconds: UInt64 = 100 * Nanoseconds.perMillisecond
    public var keys = 3
    public var readShare = 0.4
    public var writeShare = 0.4
    public var casShare = 0.2
    /// A register client gives up on an operation after this (recording it as unknown)
    /// during the fault phase; in the liveness phase it never gives up.
    public var operationTimeoutNanoseconds: UInt64 = 2 * Nanoseconds.perSecond
}

/// Raft settings for the register workload's nodes.
public struct RaftSpec: Equatable, Sendable {
    public var tickNanoseconds: UInt64 = 10 * Nanoseconds.perMillisecond
    public var electionTicks = 20
    public var heartbeatTicks = 5
    public var inflightMax = 32
    public var entriesPerMessageMax = 64
    public var snapshotEveryEntries = 1000
    public var snapshotChunkBytes = 64 * 1024
    public var segmentBytes = 1 << 20
}

/// Operator actions during the fault phase: membership changes and leadership
/// transfers, made by an admin client through the same protocol as any client.
public struct MembershipSpec: Equatable, Sendable {
    public var changesPerMinute = 0.0
    public var transfersPerMinute = 0.0
    public var votersMin = 3
    public var votersMax = 16

    public var isActive: Bool { changesPerMinute > 0 || transfersPerMinute > 0 }
}

public struct NetworkFaultRanges: Equatable, Sendable {
    public var latencyDistribution = LatencyDistribution.exponential
    public var latencyMinNanoseconds = DrawRange.fixed(500e3)
    public var latencyMeanNanoseconds = DrawRange.fixed(2e6)
    public var latencyMaxNanoseconds = DrawRange.fixed(50e6)
    public var loss = DrawRange.zero
    public var duplicate = DrawRange.zero
    public var reorder = DrawRange.zero
    public var reorderDelayNanoseconds = DrawRange.fixed(20e6)
    public var partitionsPerMinute = DrawRange.zero
    public var partitionDurationNanoseconds = DrawRange(1e9, 5e9)
    public var clogsPerMinute = DrawRange.zero
    public var clogDelayNanoseconds = DrawRange.fixed(200e6)
    public var clogDurationNanoseconds = DrawRange(1e9, 3e9)
    /// The current leader (as the workload sees it) is cut off from every other server
    /// (clients still reach it), for a duration drawn per event.
    public var leaderIsolationsPerMinute = DrawRange.zero
    public var leaderIsolationDurationNanoseconds = DrawRange(100e6, 1e9)
    /// The chance that a leader is isolated the moment it is elected, before it can
    /// replicate anything of its term (for the same duration).
    public var newLeaderIsolation = DrawRange.zero
}

public enum LatencyDistribution: String, Sendable, CaseIterable {
    case uniform
    case exponential
}

public struct DiskFaultRanges: Equatable, Sendable {
    public var sectorSize = 512
    public var capacityBytes = 1 << 30
    public var latencyMinNanoseconds = DrawRange.fixed(10e3)
    public var latencyMaxNanoseconds = DrawRange.fixed(200e3)
    public var unsyncedLost = DrawRange.fixed(0.5)
    public var unsyncedTorn = DrawRange.zero
    public var corruption = DrawRange.zero
    public var misdirect = DrawRange.zero
    public var readError = DrawRange.zero
    public var writeError = DrawRange.zero
}

public struct ProcessFaultRanges: Equatable, Sendable {
    public var crashesPerMinute = DrawRange.zero
    /// The current leader (as the workload sees it) crashes.
    public var leaderCrashesPerMinute = DrawRange.zero
    /// Every server crashes at the same instant (a power failure), each disk keeping,
    /// losing or tearing its unsynced sectors.
    public var powerFailuresPerMinute = DrawRange.zero
    public var crashAtDiskCall = DrawRange.zero
    public var restartDelayNanoseconds = DrawRange(100e6, 2e9)
    /// Servers that stay down through the liveness phase (at most a minority of voters).
    public var permanentFailures = DrawRange.zero
    public var pausesPerMinute = DrawRange.zero
    public var pauseDurationNanoseconds = DrawRange(100e6, 2e9)
}

public struct ClockFaultRanges: Equatable, Sendable {
    public var skewNanoseconds = DrawRange.zero
    public var driftPartsPerMillion = DrawRange.zero
    public var jumpsPerMinute = DrawRange.zero
    public var jumpNanoseconds = DrawRange(-1e9, 1e9)
}

public struct FaultRanges: Equatable, Sendable {
    /// Swarm testing: each fault knob is switched off with probability one half per
    /// seed, so some seeds see few kinds of fault at high intensity.
    public var swarm = false
    public var network = NetworkFaultRanges()
    public var disk = DiskFaultRanges()
    public var process = ProcessFaultRanges()
    public var clock = ClockFaultRanges()
}

/// A fault that a scenario schedules at a given time. Node numbers are 1-based.
public enum ScheduledAction: Equatable, Sendable, CustomStringConvertible {
    case partition(groups: [[Int]])
    case partitionOneWay(from: [Int], to: [Int])
    case isolate(node: Int)
    case clog(from: Int, to: Int, delayNanoseconds: UInt64)
    case heal
    case crash(node: Int)
    case restart(node: Int)
    case pause(node: Int)
    case resume(node: Int)
    case clockJump(node: Int, byNanoseconds: Int64)

    public var description: String {
        switch self {
        case let .partition(groups):
            return "partition " + groups.map { "{" + $0.map(String.init).joined(separator: ",") + "}" }.joined(separator: " ")
        case let .partitionOneWay(from, to):
            return "partition-one-way {\(from.map(String.init).joined(separator: ","))} -> {\(to.map(String.init).joined(separator: ","))}"
        case let .isolate(node): return "isolate n\(node)"
        case let .clog(from, to, delay): return "clog n\(from)->n\(to) +\(delay)ns"
        case .heal: return "heal"
        case let .crash(node): return "crash n\(node)"
        case let .restart(node): return "restart n\(node)"
        case let .pause(node): return "pause n\(node)"
        case let .resume(node): return "resume n\(node)"
        case let .clockJump(node, by): return "clock-jump n\(node) \(by)ns"
        }
    }
}

public struct ScheduledFault: Equatable, Sendable {
    public var atNanoseconds: UInt64
    public var action: ScheduledAction
}

/// A parsed scenario file. See `Scenarios/README.md` for the format.
public struct Scenario: Equatable, Sendable {
    public var name: String
    public var description = ""
    public var servers = 3
    /// Voters of the initial configuration, n1 up (the rest start outside the cluster).
    public var voters = 3
    public var workload = WorkloadSpec()
    public var raft = RaftSpec()
    public var storage = StorageSpec()
    public var membership = MembershipSpec()
    public var shards = ShardSpec()
    public var durationNanoseconds: UInt64 = 10 * Nanoseconds.perSecond
    public var livenessBoundNanoseconds: UInt64 = 30 * Nanoseconds.perSecond
    public var faults = FaultRanges()
    public var schedule: [ScheduledFault] = []
    public var checks: [CheckName] = CheckName.allCases
    public var expect = ExpectedOutcome.pass
    public var mutations: [String] = []
    /// The exact text the scenario was parsed from; traces embed it so a replay needs
    /// nothing but the trace.
    public var sourceText = ""

    public init(name: String) {
        self.name = name
    }

    /// Client processes: the workload's clients, plus the admin when membership is on.
    public var clientProcesses: Int {
        if workload.kind.isSharded { return workload.clients + (shards.operatorIsActive ? 1 : 0) }
        return workload.clients + ((workload.kind == .register || workload.kind == .sqlBank) && membership.isActive ? 1 : 0)
    }
}
