/// The replicated key-value state: the data, and a session per client so that a
/// retried write is applied exactly once. Fed committed log entries in order; reads
/// are served from it after ReadIndex says it is current enough.
public final class KVStateMachine {
    struct Session: Equatable {
        var lastSequence: UInt64
        var lastResult: KVResult
        var lastAppliedIndex: LogIndex
    }

    /// Sessions kept; past this the least recently used is forgotten, and a late retry
    /// of that client's old request is answered `sessionExpired` instead of applied twice.
    public let sessionsMax: Int
    private(set) var data: [[UInt8]: [UInt8]] = [:]
    private(set) var sessions: [UInt64: Session] = [:]
    public private(set) var appliedIndex = LogIndex.zero
    /// The SQL tables, run by every replica in log order.
    let sql: SQLReplica

    public init(sessionsMax: Int = 10_000, mutations: MutationSet = .none) {
        precondition(sessionsMax >= 1, "keep at least one session")
        self.sessionsMax = sessionsMax
        sql = SQLReplica(commitFailedTransactions: mutations.contains(.sqlCommitFailedTransaction))
    }

    public var keyCount: Int { data.count }

    public func read(_ key: [UInt8]) -> [UInt8]? {
        data[key]
    }

    /// The keys starting with `prefix`, in key order: the first `limit` that fit in
    /// `KVLimits.scanReplyBytesMax`, and how many matched in all.
    public func scan(prefix: [UInt8], limit: Int) -> KVResult {
        let matching = data.keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        var pairs: [KVPair] = []
        var bytes = 0
        for key in matching.prefix(limit) {
            let value = data[key]!
            bytes += key.count + value.count + 8
            if bytes > KVLimits.scanReplyBytesMax, !pairs.isEmpty { break }
            pairs.append(KVPair(key: key, value: value))
        }
        return .entries(pairs, matched: matching.count)
    }

    /// A committed command, identified and decoded.
    public struct Applied: Sendable, Equatable {
        public var clientID: UInt64
        public var sequence: UInt64
        public var result: KVResult
        /// False when the session showed a retry of a request already applied.
        public var tookEffect: Bool
    }

    /// Applies a committed entry. Commands return what happened; no-ops and
    /// configuration entries only move the applied index.
    @discardableResult
    public func apply(_ entry: LogEntry) -> Applied? {
        precondition(entry.index == appliedIndex.next, "entries apply in order: \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        guard entry.kind == .command, let request = try? ClientRequest.decode(entry.data) else { return nil }
        if let session = sessions[request.clientID] {
            if request.sequence == session.lastSequence {
                return Applied(clientID: request.clientID, sequence: request.sequence, result: session.lastResult, tookEffect: false)
            }
            if request.sequence < session.lastSequence {
                return Applied(clientID: request.clientID, sequence: request.sequence, result: .sessionExpired, tookEffect: false)
            }
        } else if request.sequence > 1, evictedAny {
            // This client's session may have been evicted: its request could be a retry.
            return Applied(clientID: request.clientID, sequence: request.sequence, result: .sessionExpired, tookEffect: false)
        }
        let result = execute(request.operation)
        sessions[request.clientID] = Session(lastSequence: request.sequence, lastResult: result, lastAppliedIndex: entry.index)
        if sessions.count > sessionsMax { evictOldestSession() }
        return Applied(clientID: request.clientID, sequence: request.sequence, result: result, tookEffect: true)
    }

    /// The cached result when `sequence` is this client's last applied request.
    public func sessionResult(clientID: UInt64, sequence: UInt64) -> KVResult? {
        guard let session = sessions[clientID], session.lastSequence == sequence else { return nil }
        return session.lastResult
    }

    private var evictedAny = false

    private func evictOldestSession() {
        let oldest = sessions.min { lhs, rhs in
            lhs.value.lastAppliedIndex != rhs.value.lastAppliedIndex
                ? lhs.value.lastAppliedIndex < rhs.value.lastAppliedIndex : lhs.key < rhs.key
        }
        if let oldest { sessions[oldest.key] = nil }
        evictedAny = true
    }

    private func execute(_ operation: KVOperation) -> KVResult {
        switch operation {
        case let .get(key):
            return .value(data[key])
        case let .put(key, value):
            data[key] = value
            return .written
        case let .delete(key):
            return .deleted(existed: data.removeValue(forKey: key) != nil)
        case let .compareAndSet(key, expected, new):
            let current = data[key]
            guard current == expected else { return .compareAndSet(succeeded: false, current: current) }
            data[key] = new
            return .compareAndSet(succeeded: true, current: new)
        case let .scan(prefix, limit):
            return scan(prefix: prefix, limit: limit)
        case let .sql(text, parameters, _):
            return sql.execute(text, parameters)
        case .changeMembership, .transferLeadership, .status:
            return .membershipChanged
        }
    }

    // MARK: snapshots

    /// The SQL schema this replica has applied.
    public var sqlCatalog: Catalog {
        (try? sql.database.catalog()) ?? Catalog()
    }

    /// Runs read-only SQL (SELECT, EXPLAIN) against the applied state.
    public func readSQL(_ text: String, _ parameters: [SQLValue]) -> KVResult {
        sql.execute(text, parameters, readOnly: true)
    }

    /// The whole state, in key order (never hash order), so equal states give equal bytes.
    /// Version 2 adds the SQL keys after the sessions; without SQL data, version 1.
    public func snapshot() -> [UInt8] {
        let sqlPairs = sql.pairs()
        var writer = ByteWriter(capacity: 64 + data.count * 16)
        writer.write(UInt8(sqlPairs.isEmpty ? 1 : 2))
        writer.write(appliedIndex.rawValue)
        writer.write(UInt8(evictedAny ? 1 : 0))
        writer.write(UInt32(data.count))
        for key in data.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            writer.write(lengthPrefixed: key)
            writer.write(lengthPrefixed: data[key]!)
        }
        writer.write(UInt32(sessions.count))
        for clientID in sessions.keys.sorted() {
            let session = sessions[clientID]!
            writer.write(clientID)
            writer.write(session.lastSequence)
            writer.write(session.lastAppliedIndex.rawValue)
            KVCodec.encode(session.lastResult, into: &writer)
        }
        if !sqlPairs.isEmpty {
            writer.write(UInt64(sqlPairs.count))
            for pair in sqlPairs {
                writer.write(lengthPrefixed: pair.key)
                writer.write(lengthPrefixed: pair.value)
            }
        }
        return writer.bytes
    }

    /// Replaces the state by a snapshot's. Throws on bytes that do not decode.
    public func restore(_ bytes: [UInt8], at index: LogIndex) throws(DecodeError) {
        var freshData: [[UInt8]: [UInt8]] = [:]
        var freshSessions: [UInt64: Session] = [:]
        var evicted = false
        var sqlPairs: [(key: [UInt8], value: [UInt8])] = []
        if !bytes.isEmpty {
            var reader = ByteReader(bytes)
            let version = try reader.readUInt8()
            guard version == 1 || version == 2 else { throw .invalid("unknown snapshot version") }
            guard try reader.readUInt64() == index.rawValue else { throw .invalid("snapshot index does not match") }
            evicted = try reader.readUInt8() != 0
            let keys = Int(try reader.readUInt32())
            for _ in 0..<keys {
                let key = try reader.readLengthPrefixed(maximumCount: KVLimits.keyBytesMax)
                freshData[key] = try reader.readLengthPrefixed(maximumCount: KVLimits.valueBytesMax)
            }
            let sessionCount = Int(try reader.readUInt32())
            for _ in 0..<sessionCount {
                let clientID = try reader.readUInt64()
                let sequence = try reader.readUInt64()
                let appliedAt = LogIndex(try reader.readUInt64())
                let result = try KVCodec.decodeResult(from: &reader)
                freshSessions[clientID] = Session(lastSequence: sequence, lastResult: result, lastAppliedIndex: appliedAt)
            }
            if version == 2 {
                let count = try reader.readUInt64()
                guard count <= UInt64(bytes.count) else { throw .invalid("\(count) SQL keys in a snapshot of \(bytes.count) bytes") }
                for _ in 0..<count {
                    let key = try reader.readLengthPrefixed(maximumCount: 1 << 20)
                    sqlPairs.append((key, try reader.readLengthPrefixed(maximumCount: 16 << 20)))
                }
            }
            guard reader.isAtEnd else { throw .invalid("trailing bytes in a snapshot") }
        }
        try sql.restore(sqlPairs)
        data = freshData
        sessions = freshSessions
        evictedAny = evicted
        appliedIndex = index
    }

    /// A digest of the whole state, equal on replicas that hold the same state.
    public var digest: UInt64 {
        StableHash64.digest(snapshot())
    }
}
