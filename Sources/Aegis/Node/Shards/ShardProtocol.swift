/// The protocols of a sharded cluster, as bytes on the network:
///
/// - clients to any node (its gateway): `ShardClientRequest` / `ShardClientResponse`;
/// - nodes to nodes, beside the Raft batches: `ShardMessage` — a gateway's requests to
///   a shard's leader and their replies, two-phase commit between coordinator and
///   participant leaders, shard reports to the meta leader and its placement orders.
///
/// Every node-to-node message carries the sender's hybrid clock reading, so timestamps
/// handed out after it on the receiver are later than any handed out before it there.

/// What a client asks a gateway.
public enum ShardClientOperation: Sendable, Equatable {
    /// A transaction: one shard commits it in one step, several by two-phase commit.
    case transaction([TransactionOperation])
    /// Keys in `[start, end)` in order, shard by shard (each shard's part as of its own
    /// moment: a listing, not a snapshot of the whole range).
    case scan(start: [UInt8], end: [UInt8]?, limit: Int)
    /// The keys in `[start, end)` held by the shard that holds `start`, read from its
    /// leader's state (at most `limit`, and as many as fit one answer), answered
    /// `.read`: how far the answer covers tells the client where to read on. Not a
    /// transaction: what a client computes on such reads must be checked at commit
    /// (`expectRange`).
    case read(start: [UInt8], end: [UInt8]?, limit: Int)
    /// The gateway's copy of the shard map.
    case map
    /// Operator orders to the placement driver.
    case split(shard: ShardID, key: [UInt8]?)
    case move(shard: ShardID, from: NodeID, to: NodeID)
    case decommission(NodeID, draining: Bool)
}

public struct ShardClientRequest: Sendable, Equatable {
    public static let wireTag: UInt8 = 0x54
    public var clientID: UInt64
    public var sequence: UInt64
    public var operation: ShardClientOperation

    public init(clientID: UInt64, sequence: UInt64, operation: ShardClientOperation) {
        self.clientID = clientID
        self.sequence = sequence
        self.operation = operation
    }

    public var transactionID: TransactionID { TransactionID(client: clientID, sequence: sequence) }
}

public struct ScannedEntry: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var timestamp: HybridTimestamp
}

public enum ShardClientOutcome: Sendable, Equatable {
    case transaction(TransactionOutcome)
    case entries([ScannedEntry], complete: Bool)
    /// A `read`'s answer: every key in `[start, coveredEnd)` (nil: to the end of the key
    /// space); the next read starts at `coveredEnd`.
    case read([ScannedEntry], coveredEnd: [UInt8]?)
    case map(ShardMap)
    /// An operator order was accepted (it is carried out in the background).
    case accepted(String)
    /// Not done: nothing took effect. Retry later.
    case unavailable(String)
    /// May or may not have taken effect; retry with the same sequence to learn which.
    case unknown(String)
    /// The request can never succeed as sent.
    case refused(String)
}

public struct ShardClientResponse: Sendable, Equatable {
    public static let wireTag: UInt8 = 0x55
    public var clientID: UInt64
    public var sequence: UInt64
    public var outcome: ShardClientOutcome

    public init(clientID: UInt64, sequence: UInt64, outcome: ShardClientOutcome) {
        self.clientID = clientID
        self.sequence = sequence
        self.outcome = outcome
    }
}

/// A shard leader's answer to a gateway's request.
public enum GroupReply: Sendable, Equatable {
    case outcome(TransactionOutcome)
    /// Not the leader of that shard here; `leader` is the best guess.
    case notLeader(ShardID, leader: NodeID?)
    /// The shard no longer holds one of the keys: its range now.
    case staleMap(ShardStateMachine.DescriptorFields)
    /// Refused for now (too much pending, a leader not ready): retry shortly.
    case busy(String)
    /// A `fetch`'s answer: the keys in `[start, coveredEnd)`.
    case fetched([ScannedEntry], coveredEnd: [UInt8]?)
}

/// What one leader reports about a shard to the meta leader.
public struct ShardReport: Sendable, Equatable {
    public var descriptor: ShardDescriptor
    public var leader: NodeID
    public var keys: Int
    public var bytes: Int
    /// Per member, how far its log lags the leader's (for promoting learners).
    public var lag: [(node: NodeID, entries: UInt64)]
    /// A key near the middle, to split at.
    public var middleKey: [UInt8]?
    /// Transactions in flight (a split waits for none).
    public var transactionsInFlight: Int
    /// The leader replica's `operationsApplied`: two reports from the same leader give
    /// the shard's load as a rate.
    public var operationsApplied: UInt64 = 0

    public static func == (lhs: ShardReport, rhs: ShardReport) -> Bool {
        lhs.descriptor == rhs.descriptor && lhs.leader == rhs.leader && lhs.keys == rhs.keys && lhs.bytes == rhs.bytes
            && lhs.lag.map(\.node) == rhs.lag.map(\.node) && lhs.lag.map(\.entries) == rhs.lag.map(\.entries)
            && lhs.middleKey == rhs.middleKey && lhs.transactionsInFlight == rhs.transactionsInFlight
            && lhs.operationsApplied == rhs.operationsApplied
    }
}

/// A shard and the node believed to lead it.
public struct ShardLeader: Sendable, Equatable {
    public var shard: ShardID
    public var leader: NodeID

    public init(shard: ShardID, leader: NodeID) {
        self.shard = shard
        self.leader = leader
    }
}

/// A replica a node hosts, as it reports it.
public struct HostedReplica: Sendable, Equatable {
    public var shard: ShardID
    public var configurationIndex: LogIndex

    public init(shard: ShardID, configurationIndex: LogIndex) {
        self.shard = shard
        self.configurationIndex = configurationIndex
    }
}

/// The placement driver's orders: to a shard's leader, or (`host`, `drop`) to the node
/// that is to receive or give up a replica.
public enum PlacementOrder: Sendable, Equatable {
    case split(key: [UInt8], right: ShardID, generation: UInt64)
    case change(ConfigurationChange)
    case transferLeadership(to: NodeID)
    /// Get ready to host the shard: a node that held it before lifts its tombstone and
    /// starts a new, empty replica from the state the tombstone kept.
    case host
    /// Give up the replica: the group's configuration as of `through` (at or after the
    /// last one the replica applied) no longer names this node.
    case drop(through: LogIndex)
}

public enum ShardMessage: Sendable, Equatable {
    // A gateway and a shard's leader.
    case execute(request: UInt64, shard: ShardID, TransactionID, plan: ParticipantPlan)
    case begin(request: UInt64, shard: ShardID, TransactionID, participants: [ParticipantPlan])
    case reply(request: UInt64, GroupReply)
    /// A gateway reads a shard's keys from its leader (for a client's `read`).
    case fetch(request: UInt64, shard: ShardID, start: [UInt8], end: [UInt8]?, limit: Int)
    // Two-phase commit between leaders.
    case prepare(coordinator: ShardID, participant: ShardID, TransactionID, plan: ParticipantPlan)
    case vote(coordinator: ShardID, participant: ShardID, TransactionID, Vote)
    case finish(coordinator: ShardID, participant: ShardID, TransactionID, commit: Bool, timestamp: HybridTimestamp)
    case finished(coordinator: ShardID, participant: ShardID, TransactionID)
    /// A participant that waited too long for a decision asks for it.
    case resolve(coordinator: ShardID, participant: ShardID, TransactionID)
    // Placement.
    /// A node's reports of the shards it leads, and every replica it hosts with the index
    /// of the configuration it last applied (so the driver can drop removed ones).
    case reports([ShardReport], hosted: [HostedReplica])
    case order(request: UInt64, shard: ShardID, PlacementOrder)
    case orderDone(request: UInt64, shard: ShardID, refused: String?)
    case mapRequest(request: UInt64)
    /// The map, and the leader of each shard as far as the answering node knows (so a
    /// node learns the leaders of shards it hosts no replica of).
    case mapReply(request: UInt64, ShardMap, leaders: [ShardLeader])

    public static let wireTag: UInt8 = 0x58

    public var kind: String {
        switch self {
        case .execute: return "execute"
        case .begin: return "begin"
        case .reply: return "reply"
        case .fetch: return "fetch"
        case .prepare: return "prepare"
        case .vote: return "vote"
        case .finish: return "finish"
        case .finished: return "finished"
        case .resolve: return "resolve"
        case .reports: return "reports"
        case .order: return "order"
        case .orderDone: return "order-done"
        case .mapRequest: return "map-request"
        case .mapReply: return "map-reply"
        }
    }
}
