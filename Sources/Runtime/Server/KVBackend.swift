import Aegis
import NIOCore

/// The store behind `/api/v1/kv`: the node's single Raft group (`EngineHost`), or the
/// sharded store (`ShardKVBackend`), where each operation is a transaction and a batch
/// is one transaction across shards, committed by two-phase commit when it spans them.
protocol KVBackend: Sendable {
    func kv(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64)?, timeout: TimeAmount) async throws -> KVResult
    /// This node's value, for a guess or a `consistency=local` read (may be stale).
    func localValue(_ key: [UInt8]) async throws -> [UInt8]?
    func localListing(prefix: [UInt8], limit: Int) async throws -> KVResult
}

extension EngineHost: KVBackend {
    func kv(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64)?, timeout: TimeAmount) async throws -> KVResult {
        try await call(operation, identity: identity, timeout: timeout).get()
    }

    func localValue(_ key: [UInt8]) async throws -> [UInt8]? { try await localRead(key).get() }

    func localListing(prefix: [UInt8], limit: Int) async throws -> KVResult {
        try await localScan(prefix: prefix, limit: limit).get()
    }
}

/// The key-value API on the sharded store. Every read is a transaction, so it is as
/// current as a write (the shards have no follower reads); a `consistency=local`
/// read is served the same way.
struct ShardKVBackend: KVBackend {
    let shards: ShardHost

    /// One batch is one transaction: at most this many keys (a write also checks what
    /// it replaces, two operations per key).
    static let batchReadKeysMax = TransactionLimits.operationsMax
    static let batchWriteKeysMax = TransactionLimits.operationsMax / 2

    func kv(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64)?, timeout: TimeAmount) async throws -> KVResult {
        switch operation {
        case let .get(key):
            let reads = try await committed([.get(key: key)], identity: identity, timeout: timeout)
            return .value(reads.first?.value ?? nil)
        case let .put(key, value):
            try ShardKVBackend.checkSize(key, value)
            _ = try await committed([.put(key: key, value: value)], identity: identity, timeout: timeout)
            return .written
        case let .delete(key):
            let reads = try await committed([.get(key: key), .delete(key: key)], identity: identity, timeout: timeout)
            return .deleted(existed: (reads.first?.value ?? nil) != nil)
        case let .compareAndSet(key, expected, new):
            if let new { try ShardKVBackend.checkSize(key, new) }
            let write: TransactionOperation = new.map { .put(key: key, value: $0) } ?? .delete(key: key)
            let outcome = try await shards.transaction([.expect(key: key, value: expected), write], identity: identity, timeout: timeout)
            switch outcome {
            case .committed: return .compareAndSet(succeeded: true, current: new)
            case let .aborted(.condition(_, current)): return .compareAndSet(succeeded: false, current: current)
            case let .aborted(reason): throw ShardKVBackend.error(reason)
            }
        case let .scan(prefix, limit):
            return try await listing(prefix: prefix, limit: limit, timeout: timeout)
        default:
            throw EngineCallError.badRequest("this node runs the sharded store, which serves keys only; \(operation) needs an unsharded cluster")
        }
    }

    func localValue(_ key: [UInt8]) async throws -> [UInt8]? {
        let reads = try await committed([.get(key: key)], identity: nil, timeout: .seconds(5))
        return reads.first?.value ?? nil
    }

    func localListing(prefix: [UInt8], limit: Int) async throws -> KVResult {
        try await listing(prefix: prefix, limit: limit, timeout: .seconds(5))
    }

    /// Each shard's part from this node's replica (a listing, not a snapshot). A shard
    /// this node does not host is left out: with replication 3 on 3 nodes every node
    /// hosts every shard; on more nodes the answer is refused rather than silently short.
    private func listing(prefix: [UInt8], limit: Int, timeout: TimeAmount) async throws -> KVResult {
        let outcome = try await shards.call(.scan(start: prefix, end: ShardKVBackend.successor(of: prefix), limit: limit),
            timeout: timeout).get()
        guard case let .entries(entries, complete) = outcome else { throw ShardHost.unexpected(outcome) }
        guard complete || entries.count >= limit else {
            throw EngineCallError.badRequest("node \(shards.nodeID.rawValue) does not hold a replica of every shard in that range, so it cannot list it whole; list from another node, or narrow the prefix")
        }
        return .entries(entries.map { KVPair(key: $0.key, value: $0.value) }, matched: entries.count)
    }

    /// Runs a transaction and returns its reads; an abort becomes an error.
    func committed(_ operations: [TransactionOperation], identity: (clientID: UInt64, sequence: UInt64)?,
                   timeout: TimeAmount) async throws -> [TransactionRead] {
        switch try await shards.transaction(operations, identity: identity, timeout: timeout) {
        case let .committed(_, reads): return reads
        case let .aborted(reason): throw ShardKVBackend.error(reason)
        }
    }

    /// A shard holds smaller values than the single group (a transaction's prepared
    /// writes travel in one Raft entry).
    static func checkSize(_ key: [UInt8], _ value: [UInt8]) throws {
        guard value.count <= TransactionLimits.valueBytesMax else {
            throw APIError(status: .contentTooLarge, code: "value_too_large",
                message: "the value of '\(String(decoding: key, as: UTF8.self))' is \(value.count) bytes stored; values on the sharded store are at most \(TransactionLimits.valueBytesMax) bytes")
        }
    }

    static func error(_ reason: AbortReason) -> EngineCallError {
        switch reason {
        case let .invalid(text): return .badRequest(text)
        case .stale: return .badRequest("a later request with this X-Aegis-Request-Id client was already applied; use a new sequence")
        default: return .busy("the transaction aborted (\(reason))")
        }
    }

    /// The first key after every key starting with `prefix` (nil: no bound).
    static func successor(of prefix: [UInt8]) -> [UInt8]? {
        var bound = prefix
        while let last = bound.last {
            if last < 0xFF {
                bound[bound.count - 1] = last + 1
                return bound
            }
            bound.removeLast()
        }
        return nil
    }

    // MARK: batches, each one transaction

    func batchGet(_ keys: [[UInt8]], timeout: TimeAmount) async throws -> [[UInt8]?] {
        guard !keys.isEmpty else { return [] }
        guard keys.count <= ShardKVBackend.batchReadKeysMax else {
            throw EngineCallError.badRequest("a batch read on the sharded store holds at most \(ShardKVBackend.batchReadKeysMax) keys; split it")
        }
        let reads = try await committed(keys.map { .get(key: $0) }, identity: nil, timeout: timeout)
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        for read in reads where read.operation < keys.count { values[read.operation] = read.value }
        return values
    }

    /// Writes (or deletes, for nil) every key at once, each conditioned on what `make`
    /// was shown: `make` gets the current values and returns the new ones; a write
    /// between the read and the commit makes it read and try again. Keys whose value
    /// stays the same are only checked; when none changes, the read (itself one
    /// transaction) is the answer.
    func batchWrite(_ keys: [[UInt8]], timeout: TimeAmount,
                    make: ([[UInt8]?]) throws -> [[UInt8]?]) async throws -> (before: [[UInt8]?], after: [[UInt8]?]) {
        guard keys.count <= ShardKVBackend.batchWriteKeysMax else {
            throw EngineCallError.badRequest("a batch write on the sharded store holds at most \(ShardKVBackend.batchWriteKeysMax) keys, so it commits as one transaction; split it")
        }
        guard Set(keys).count == keys.count else {
            throw EngineCallError.badRequest("a batch names the same key twice; give each key once")
        }
        // Optimistic: read, decide, write conditioned on the read. Under contention the
        // read goes stale; try again after a jittered pause, until the call's time is up.
        let deadline = NIODeadline.now() + timeout
        var pause = TimeAmount.milliseconds(1)
        while true {
            let remaining = deadline - NIODeadline.now()
            guard remaining > .zero else { break }
            let current = try await batchGet(keys, timeout: remaining)
            let new = try make(current)
            for (index, key) in keys.enumerated() { if let value = new[index] { try ShardKVBackend.checkSize(key, value) } }
            var operations: [TransactionOperation] = []
            for (index, key) in keys.enumerated() { operations.append(.expect(key: key, value: current[index])) }
            for (index, key) in keys.enumerated() where new[index] != current[index] {
                operations.append(new[index].map { .put(key: key, value: $0) } ?? .delete(key: key))
            }
            if operations.count == keys.count { return (current, new) }
            switch try await shards.transaction(operations, identity: nil, timeout: max(.milliseconds(1), deadline - NIODeadline.now())) {
            case .committed: return (current, new)
            case .aborted(.condition):
                try await Task.sleep(nanoseconds: UInt64(pause.nanoseconds) + UInt64.random(in: 0...UInt64(pause.nanoseconds)))
                pause = min(pause * 2, .milliseconds(50))
            case let .aborted(reason): throw ShardKVBackend.error(reason)
            }
        }
        throw EngineCallError.busy("the keys kept changing between the read and the write until the request timed out; retry")
    }
}
