/// The key-value protocol between clients and nodes, as bytes on the network.
///
/// A client names itself (`clientID`) and numbers its requests (`sequence`, from 1,
/// one at a time). The pair identifies a write across retries: the state machine keeps
/// each client's last applied sequence and result, so a retried write is applied once.

public enum KVOperation: Sendable, Equatable, CustomStringConvertible {
    case get(key: [UInt8])
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    /// Writes `new` (or deletes, when nil) only if the key holds `expected` (nil: absent).
    case compareAndSet(key: [UInt8], expected: [UInt8]?, new: [UInt8]?)
    /// Membership and leadership, for operators.
    case changeMembership(ConfigurationChange)
    case transferLeadership(to: NodeID)
    /// The leader's view of the cluster (not linearizable: for operators).
    case status
    /// Keys starting with `prefix`, in key order, at most `limit` of them (a read).
    case scan(prefix: [UInt8], limit: Int)
    /// SQL statements with their parameters. `readOnly` (every statement a SELECT or
    /// EXPLAIN) is served like a read; anything else goes through the log and every
    /// replica runs it.
    case sql(text: String, parameters: [SQLValue], readOnly: Bool)

    public var isRead: Bool {
        switch self {
        case .get, .scan: return true
        case let .sql(_, _, readOnly): return readOnly
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .get(key): return "get \(KVText.show(key))"
        case let .put(key, value): return "put \(KVText.show(key))=\(KVText.show(value))"
        case let .delete(key): return "delete \(KVText.show(key))"
        case let .compareAndSet(key, expected, new):
            return "cas \(KVText.show(key)) \(KVText.show(expected))->\(KVText.show(new))"
        case let .changeMembership(change): return "membership \(change)"
        case let .transferLeadership(target): return "transfer-leadership \(target)"
        case .status: return "status"
        case let .scan(prefix, limit): return "scan \(KVText.show(prefix))* limit \(limit)"
        case let .sql(text, parameters, _): return "sql \(text.prefix(200))" + (parameters.isEmpty ? "" : " \(parameters)")
        }
    }
}

/// One key and its value, as a scan returns them.
public struct KVPair: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]

    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// The outcome of an operation that was carried out.
public enum KVResult: Sendable, Equatable, CustomStringConvertible {
    case value([UInt8]?)
    case written
    case deleted(existed: Bool)
    case compareAndSet(succeeded: Bool, current: [UInt8]?)
    case membershipChanged
    case transferStarted
    /// The client's session is gone (evicted); a retry of an old request cannot be
    /// matched to its first outcome. Nothing was applied.
    case sessionExpired
    case status(ClusterStatus)
    /// A scan's first entries in key order, and how many keys matched in all. Fewer
    /// entries than asked for (with more matching) means the reply hit its byte bound.
    case entries([KVPair], matched: Int)
    /// The results of the SQL statements that ran, and the error that stopped the rest.
    case sql([QueryResult], error: String?)

    public var description: String {
        switch self {
        case let .value(value): return "value \(KVText.show(value))"
        case .written: return "written"
        case let .deleted(existed): return existed ? "deleted" : "deleted (was absent)"
        case let .compareAndSet(succeeded, current):
            return succeeded ? "cas ok" : "cas failed (holds \(KVText.show(current)))"
        case .membershipChanged: return "membership changed"
        case .transferStarted: return "transfer started"
        case .sessionExpired: return "session expired"
        case let .status(status): return "status \(status)"
        case let .entries(pairs, matched): return "\(pairs.count) of \(matched) entries"
        case let .sql(results, error): return "\(results.count) sql result(s)" + (error.map { ": \($0)" } ?? "")
        }
    }
}

/// What a leader reports about the cluster.
public struct ClusterStatus: Sendable, Equatable, CustomStringConvertible {
    public var leader: NodeID
    public var term: Term
    public var commitIndex: LogIndex
    public var configuration: ClusterConfiguration

    public init(leader: NodeID, term: Term, commitIndex: LogIndex, configuration: ClusterConfiguration) {
        self.leader = leader
        self.term = term
        self.commitIndex = commitIndex
        self.configuration = configuration
    }

    public var description: String { "leader \(leader) \(term) commit \(commitIndex) \(configuration)" }
}

public struct ClientRequest: Sendable, Equatable {
    public var clientID: UInt64
    public var sequence: UInt64
    public var operation: KVOperation

    public init(clientID: UInt64, sequence: UInt64, operation: KVOperation) {
        self.clientID = clientID
        self.sequence = sequence
        self.operation = operation
    }
}

public struct ClientResponse: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Done, with this result.
        case ok(KVResult)
        /// Not done here: this node does not lead. Try `leader` (nil: unknown).
        case redirect(leader: NodeID?)
        /// Not done by this attempt, for the reason given (busy, transfer under way…).
        /// An earlier attempt of the same request may still take effect.
        case unavailable(String)
        /// May or may not take effect: the node stopped leading while it was pending.
        /// Retry with the same sequence to learn which.
        case unknown(String)
    }

    public var clientID: UInt64
    public var sequence: UInt64
    public var outcome: Outcome

    public init(clientID: UInt64, sequence: UInt64, outcome: Outcome) {
        self.clientID = clientID
        self.sequence = sequence
        self.outcome = outcome
    }
}

/// Keys, values and text in KV messages are bounded.
public enum KVLimits {
    public static let keyBytesMax = 4096
    public static let valueBytesMax = 256 * 1024
    public static let reasonBytesMax = 512
    /// A scan returns at most this many entries, and stops early rather than let its
    /// reply pass `scanReplyBytesMax` (a reply must fit in one network message).
    public static let scanEntriesMax = 1000
    public static let scanReplyBytesMax = 512 * 1024
    /// SQL text of one request (and, separately, its encoded parameters), and the
    /// results of one reply: each must fit one network message (and a request, one log
    /// entry).
    public static let sqlTextBytesMax = 256 * 1024
    public static let sqlParametersMax = 1000
    public static let sqlReplyBytesMax = 512 * 1024
}
