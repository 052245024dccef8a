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
    /// it replaces, two operations per key, and a request record takes two more).
    static let batchReadKeysMax = TransactionLimits.operationsMax
    static let batchWriteKeysMax = TransactionLimits.operationsMax / 2 - 1

    func kv(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64)?, timeout: TimeAmount) async throws -> KVResult {
        switch operation {
        case let .get(key), let .put(key, _), let .delete(key), let .compareAndSet(key, _, _):
            try ShardKVBackend.checkUserKey(key)
        default: break
        }
        if let identity, let answer = try await once(operation, identity: identity, timeout: timeout) { return answer }
        switch operation {
        case let .get(key):
            let reads = try await committed([.get(key: key)], identity: nil, timeout: timeout)
            return .value(reads.first?.value ?? nil)
        case let .put(key, value):
            try ShardKVBackend.checkSize(key, value)
            _ = try await committed([.put(key: key, value: value)], identity: nil, timeout: timeout)
            return .written
        case let .delete(key):
            let reads = try await committed([.get(key: key), .delete(key: key)], identity: nil, timeout: timeout)
            return .deleted(existed: (reads.first?.value ?? nil) != nil)
        case let .compareAndSet(key, expected, new):
            if let new { try ShardKVBackend.checkSize(key, new) }
            let write: TransactionOperation = new.map { .put(key: key, value: $0) } ?? .delete(key: key)
            let outcome = try await shards.transaction([.expect(key: key, value: expected), write], identity: nil, timeout: timeout)
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

    /// A write with an `X-Aegis-Request-Id` (put, delete, compare-and-set), applied at
    /// most once by its `RequestRecord` (see `batchWrite`); nil for other operations.
    private func once(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64),
                      timeout: TimeAmount) async throws -> KVResult? {
        struct Mismatch: Error { var current: [UInt8]? }
        let key: [UInt8]
        var make: ([[UInt8]?]) throws -> [[UInt8]?]
        var answer: KVResult
        switch operation {
        case let .put(key: written, value):
            try ShardKVBackend.checkSize(written, value)
            (key, answer) = (written, .written)
            make = { _ in [value] }
        case let .delete(key: deleted):
            (key, answer) = (deleted, .deleted(existed: false))
            make = { current in
                answer = .deleted(existed: current[0] != nil)
                return [nil]
            }
        case let .compareAndSet(key: target, expected, new):
            (key, answer) = (target, .compareAndSet(succeeded: true, current: new))
            make = { current in
                guard current[0] == expected else { throw Mismatch(current: current[0]) }
                return [new]
            }
        default:
            return nil
        }
        do {
            let written = try await batchWrite([key], identity: identity, timeout: timeout, answer: { answer }, make: { try make($0) })
            return written.replayed ?? answer
        } catch let mismatch as Mismatch {
            return .compareAndSet(succeeded: false, current: mismatch.current)
        }
    }

    func localValue(_ key: [UInt8]) async throws -> [UInt8]? {
        try ShardKVBackend.checkUserKey(key)
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
        // The reserved keys (SQL tables, request records) sort first; a listing starts past them.
        guard prefix.isEmpty || !ShardKVBackend.isReserved(prefix) else { return .entries([], matched: 0) }
        let start = prefix.isEmpty ? [ShardKVBackend.userKeyFirstByte] : prefix
        let outcome = try await shards.call(.scan(start: start, end: ShardKVBackend.successor(of: prefix), limit: limit),
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

    /// Keys starting with a byte below this (a control character) are the store's own on
    /// the sharded store, where SQL tables share the key space: the catalog, rows and
    /// indexes (`0x01`–`0x05`) and request records (`0x06`).
    static let userKeyFirstByte: UInt8 = 0x20

    static func isReserved(_ key: [UInt8]) -> Bool { (key.first ?? userKeyFirstByte) < userKeyFirstByte }

    static func checkUserKey(_ key: [UInt8]) throws {
        guard !isReserved(key) else {
            throw APIError(status: .badRequest, code: "invalid_key",
                message: "keys starting with a control character (bytes 0x00-0x1F) are reserved for SQL tables and the cluster's own records on a sharded cluster; start the key with a printable character")
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
        for key in keys { try ShardKVBackend.checkUserKey(key) }
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
    ///
    /// With `identity` (an `X-Aegis-Request-Id`) the batch applies at most once: its
    /// client's `RequestRecord` is read with the keys, a batch already applied returns
    /// the recorded `answer` as `replayed` (writing nothing), and one that writes
    /// commits a new record, made by `answer`, in the same transaction.
    func batchWrite(_ keys: [[UInt8]], identity: (clientID: UInt64, sequence: UInt64)? = nil, timeout: TimeAmount,
                    answer: () -> KVResult = { .written },
                    make: ([[UInt8]?]) throws -> [[UInt8]?]) async throws -> BatchWrite {
        guard keys.count <= ShardKVBackend.batchWriteKeysMax else {
            throw EngineCallError.badRequest("a batch write on the sharded store holds at most \(ShardKVBackend.batchWriteKeysMax) keys, so it commits as one transaction; split it")
        }
        for key in keys { try ShardKVBackend.checkUserKey(key) }
        guard Set(keys).count == keys.count else {
            throw EngineCallError.badRequest("a batch names the same key twice; give each key once")
        }
        let recordKey = identity.map { RequestRecord.key(client: $0.clientID) }
        // Optimistic: read, decide, write conditioned on the read. Under contention the
        // read goes stale; try again after a jittered pause, until the call's time is up.
        let deadline = NIODeadline.now() + timeout
        var pause = TimeAmount.milliseconds(1)
        while true {
            let remaining = deadline - NIODeadline.now()
            guard remaining > .zero else { break }
            let readKeys = keys + (recordKey.map { [$0] } ?? [])
            let reads = try await committed(readKeys.map { .get(key: $0) }, identity: nil, timeout: remaining)
            var values = [[UInt8]?](repeating: nil, count: readKeys.count)
            for read in reads where read.operation < readKeys.count { values[read.operation] = read.value }
            let current = Array(values.prefix(keys.count))
            if let identity {
                switch RequestRecord.verdict(stored: values[keys.count], sequence: identity.sequence) {
                case .run: break
                case let .replay(recorded): return BatchWrite(before: current, after: current, replayed: recorded)
                case .stale: throw EngineCallError.badRequest(RequestRecord.staleMessage)
                }
            }
            let new = try make(current)
            for (index, key) in keys.enumerated() { if let value = new[index] { try ShardKVBackend.checkSize(key, value) } }
            var operations: [TransactionOperation] = []
            for (index, key) in keys.enumerated() { operations.append(.expect(key: key, value: current[index])) }
            for (index, key) in keys.enumerated() where new[index] != current[index] {
                operations.append(new[index].map { .put(key: key, value: $0) } ?? .delete(key: key))
            }
            if operations.count == keys.count { return BatchWrite(before: current, after: new, replayed: nil) }
            if let identity, let recordKey {
                let record = RequestRecord(sequence: identity.sequence, writtenAtMilliseconds: Timestamp.nowMilliseconds(), answer: answer())
                operations += [.expect(key: recordKey, value: values[keys.count]), .put(key: recordKey, value: record.encoded())]
            }
            switch try await shards.transaction(operations, identity: nil, timeout: max(.milliseconds(1), deadline - NIODeadline.now())) {
            case .committed: return BatchWrite(before: current, after: new, replayed: nil)
            case .aborted(.condition):
                try await Task.sleep(nanoseconds: UInt64(pause.nanoseconds) + UInt64.random(in: 0...UInt64(pause.nanoseconds)))
                pause = min(pause * 2, .milliseconds(50))
            case let .aborted(reason): throw ShardKVBackend.error(reason)
            }
        }
        throw EngineCallError.busy("the keys kept changing between the read and the write until the request timed out; retry")
    }
}

/// What a batch write did: the values before and after, or, for a request applied
/// before, the answer it recorded then (and nothing written now).
struct BatchWrite {
    var before: [[UInt8]?]
    var after: [[UInt8]?]
    var replayed: KVResult?
}
