/// Transactions over the sharded key space: one-shot, a list of operations known up
/// front, run atomically and serializably across every shard they touch.
///
/// A transaction that touches one shard commits in one log entry there (one-phase).
/// One that touches several runs two-phase commit: its coordinator shard records it,
/// each participant shard prepares its share (locks every key it reads or writes, runs
/// the reads and conditions, stages the writes) and votes; the coordinator's decision
/// is committed in its own log before any participant hears it; the participants then
/// apply or drop their staged writes and release the locks. Locks are strict (held to
/// the decision) and taken without waiting: a prepare that finds a conflicting lock
/// votes no at once, so no transaction ever waits for a lock held by another and no
/// deadlock can form. The isolation level is serializable, and the order is the order
/// of the hybrid-logical-clock commit timestamps.

/// A transaction's identity: the client and its request's sequence number. A retry
/// carries the same id, so a shard's session applies it at most once.
public struct TransactionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var client: UInt64
    public var sequence: UInt64

    public init(client: UInt64, sequence: UInt64) {
        self.client = client
        self.sequence = sequence
    }

    public static func < (lhs: TransactionID, rhs: TransactionID) -> Bool {
        (lhs.client, lhs.sequence) < (rhs.client, rhs.sequence)
    }

    public var description: String { "tx\(client).\(sequence)" }

    func encode(into writer: inout ByteWriter) {
        writer.write(client)
        writer.write(sequence)
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> TransactionID {
        TransactionID(client: try reader.readUInt64(), sequence: try reader.readUInt64())
    }
}

/// One operation of a transaction. Each takes a lock on its key at the shard that holds
/// it: a shared lock for `get` alone, an exclusive one for everything else.
public enum TransactionOperation: Sendable, Equatable, CustomStringConvertible {
    /// Reads the value (nil when absent); it sees the transaction's own earlier writes.
    case get(key: [UInt8])
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    /// Appends an integer to the list stored at the key (a list of little-endian Int64;
    /// absent is empty): the list-append workload's write.
    case append(key: [UInt8], element: Int64)
    /// Adds `delta` to the integer at the key (absent is 0); when the result would be
    /// below `minimum`, the transaction aborts instead (a bank refusing an overdraft).
    case add(key: [UInt8], delta: Int64, minimum: Int64?)
    /// The transaction aborts unless the key holds `value` (nil: absent). Compare-and-set
    /// is `expect` then `put`.
    case expect(key: [UInt8], value: [UInt8]?)
    /// The transaction aborts unless the keys in `[start, end)` (nil: to the end of the
    /// shard) are exactly the `count` pairs whose `RangeDigest` is `digest`: what the
    /// client read there. It holds a shared lock on the whole range until the decision,
    /// so no write can land in it (no phantom) before then. The range must lie within
    /// one shard. It is how a client that computed on what it read (SQL) commits only if
    /// what it read still holds.
    case expectRange(start: [UInt8], end: [UInt8]?, count: Int, digest: UInt64)

    /// The key the operation is routed by (a range's start).
    public var key: [UInt8] {
        switch self {
        case let .get(key), let .put(key, _), let .delete(key), let .append(key, _), let .add(key, _, _),
             let .expect(key, _), let .expectRange(key, _, _, _):
            return key
        }
    }

    /// The range an `expectRange` covers.
    public var range: KeySpan? {
        guard case let .expectRange(start, end, _, _) = self else { return nil }
        return KeySpan(start: start, end: end)
    }

    public var isRead: Bool {
        if case .get = self { return true }
        return false
    }

    /// Whether it needs the key's lock exclusively.
    public var writes: Bool {
        switch self {
        case .get, .expect, .expectRange: return false
        case .put, .delete, .append, .add: return true
        }
    }

    public var description: String {
        switch self {
        case let .get(key): return "get \(KVText.show(key))"
        case let .put(key, value): return "put \(KVText.show(key))=\(KVText.show(value))"
        case let .delete(key): return "delete \(KVText.show(key))"
        case let .append(key, element): return "append \(KVText.show(key)) \(element)"
        case let .add(key, delta, minimum):
            return "add \(KVText.show(key)) \(delta)" + (minimum.map { " (min \($0))" } ?? "")
        case let .expect(key, value): return "expect \(KVText.show(key))=\(KVText.show(value))"
        case let .expectRange(start, end, count, _):
            return "expect \(count) key(s) in \(KeySpan(start: start, end: end))"
        }
    }
}

/// The digest `expectRange` compares: of the pairs in key order, each key and value
/// folded with its length, so different contents give different digests.
public enum RangeDigest {
    public static func of<Pairs: Sequence>(_ pairs: Pairs) -> (count: Int, digest: UInt64)
    where Pairs.Element == (key: [UInt8], value: [UInt8]) {
        var hash = StableHash64()
        var count = 0
        for (key, value) in pairs {
            hash.combine(bytes: key)
            hash.combine(bytes: value)
            count += 1
        }
        hash.combine(UInt64(count))
        return (count, hash.value)
    }
}

/// Bounds on one transaction: it must fit one network message and one log entry.
public enum TransactionLimits {
    public static let operationsMax = 256
    public static let keyBytesMax = 4096
    public static let valueBytesMax = 64 * 1024
    /// Encoded operations of one transaction.
    public static let bytesMax = 256 * 1024
    /// A value that an append would grow past this is refused (the list-append lists
    /// are read whole).
    public static let listBytesMax = 64 * 1024
    /// Text of an abort reason on the wire.
    public static let reasonBytesMax = 512
    /// Entries, and their bytes, one `read` answers at most (the client reads on).
    public static let readEntriesMax = 1000
    public static let readBytesMax = 256 * 1024
}

/// Why a transaction did not commit. Every case is final: nothing it wrote took effect.
public enum AbortReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another transaction held a lock it needed; run it again.
    case conflict(key: [UInt8])
    /// An `expect` or an `add` minimum did not hold.
    case condition(key: [UInt8], current: [UInt8]?)
    /// A shard no longer holds one of its keys (it split); the map is refreshed, run it again.
    case staleMap(shard: ShardID)
    /// A later request of the same client was already applied: this one is old.
    case stale
    /// The coordinator gave up waiting for a participant (the participant was
    /// unreachable, or crashed before it prepared).
    case timeout
    /// The transaction is malformed or too large; it will never commit as sent.
    case invalid(String)

    public var description: String {
        switch self {
        case let .conflict(key): return "a conflicting transaction holds \(KVText.show(key)); run it again"
        case let .condition(key, current): return "the condition on \(KVText.show(key)) failed (it holds \(KVText.show(current)))"
        case let .staleMap(shard): return "\(shard) no longer holds one of its keys; run it again"
        case .stale: return "a later request of this client was already applied"
        case .timeout: return "a participant did not prepare in time; run it again"
        case let .invalid(reason): return reason
        }
    }

    /// Whether running the same operations again may succeed.
    public var isRetryable: Bool {
        switch self {
        case .conflict, .staleMap, .timeout: return true
        case .condition, .stale, .invalid: return false
        }
    }
}

/// How a transaction ended.
public enum TransactionOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Committed at `timestamp`; `reads` holds the value each `get` saw, by operation index.
    case committed(timestamp: HybridTimestamp, reads: [TransactionRead])
    case aborted(AbortReason)

    public var description: String {
        switch self {
        case let .committed(timestamp, reads): return "committed at \(timestamp) with \(reads.count) read(s)"
        case let .aborted(reason): return "aborted: \(reason)"
        }
    }
}

/// What one `get` saw.
public struct TransactionRead: Sendable, Equatable {
    public var operation: Int
    public var value: [UInt8]?

    public init(operation: Int, value: [UInt8]?) {
        self.operation = operation
        self.value = value
    }
}

/// The list-append encoding: little-endian Int64s, one after another.
public enum IntegerList {
    public static func decode(_ bytes: [UInt8]?) -> [Int64]? {
        guard let bytes else { return [] }
        guard bytes.count % 8 == 0 else { return nil }
        var reader = ByteReader(bytes)
        var values: [Int64] = []
        values.reserveCapacity(bytes.count / 8)
        while !reader.isAtEnd {
            guard let value = try? reader.readInt64() else { return nil }
            values.append(value)
        }
        return values
    }

    public static func appending(_ element: Int64, to bytes: [UInt8]?) -> [UInt8] {
        var writer = ByteWriter(capacity: (bytes?.count ?? 0) + 8)
        if let bytes { writer.write(raw: bytes) }
        writer.write(element)
        return writer.bytes
    }
}

/// A signed integer value, as `add` keeps it: eight little-endian bytes.
public enum IntegerValue {
    public static func decode(_ bytes: [UInt8]?) -> Int64? {
        guard let bytes else { return 0 }
        guard bytes.count == 8 else { return nil }
        var reader = ByteReader(bytes)
        return try? reader.readInt64()
    }

    public static func encode(_ value: Int64) -> [UInt8] {
        var writer = ByteWriter(capacity: 8)
        writer.write(value)
        return writer.bytes
    }
}

// MARK: wire form

extension ByteWriter {
    mutating func write(optionalBytes bytes: [UInt8]?) {
        if let bytes {
            write(UInt8(1))
            write(lengthPrefixed: bytes)
        } else {
            write(UInt8(0))
        }
    }
}

extension ByteReader {
    mutating func readOptionalBytes(maximumCount: Int) throws(DecodeError) -> [UInt8]? {
        switch try readUInt8() {
        case 0: return nil
        case 1: return try readLengthPrefixed(maximumCount: maximumCount)
        case let flag: throw .invalid("bad presence flag \(flag)")
        }
    }
}

extension TransactionOperation {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case let .get(key):
            writer.write(UInt8(1))
            writer.write(lengthPrefixed: key)
        case let .put(key, value):
            writer.write(UInt8(2))
            writer.write(lengthPrefixed: key)
            writer.write(lengthPrefixed: value)
        case let .delete(key):
            writer.write(UInt8(3))
            writer.write(lengthPrefixed: key)
        case let .append(key, element):
            writer.write(UInt8(4))
            writer.write(lengthPrefixed: key)
            writer.write(element)
        case let .add(key, delta, minimum):
            writer.write(UInt8(5))
            writer.write(lengthPrefixed: key)
            writer.write(delta)
            writer.write(UInt8(minimum == nil ? 0 : 1))
            writer.write(minimum ?? 0)
        case let .expect(key, value):
            writer.write(UInt8(6))
            writer.write(lengthPrefixed: key)
            writer.write(optionalBytes: value)
        case let .expectRange(start, end, count, digest):
            writer.write(UInt8(7))
            writer.write(lengthPrefixed: start)
            writer.write(optionalBytes: end)
            writer.write(UInt32(count))
            writer.write(digest)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> TransactionOperation {
        let tag = try reader.readUInt8()
        let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
        switch tag {
        case 1: return .get(key: key)
        case 2: return .put(key: key, value: try reader.readLengthPrefixed(maximumCount: TransactionLimits.valueBytesMax))
        case 3: return .delete(key: key)
        case 4: return .append(key: key, element: try reader.readInt64())
        case 5:
            let delta = try reader.readInt64()
            let hasMinimum = try reader.readUInt8()
            let minimum = try reader.readInt64()
            guard hasMinimum <= 1 else { throw .invalid("bad minimum flag") }
            return .add(key: key, delta: delta, minimum: hasMinimum == 1 ? minimum : nil)
        case 6: return .expect(key: key, value: try reader.readOptionalBytes(maximumCount: TransactionLimits.valueBytesMax))
        case 7:
            let end = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
            if let end { guard key.lexicographicallyPrecedes(end) else { throw .invalid("an empty range") } }
            let count = Int(try reader.readUInt32())
            return .expectRange(start: key, end: end, count: count, digest: try reader.readUInt64())
        default: throw .invalid("unknown transaction operation \(tag)")
        }
    }

    static func encode(_ operations: [TransactionOperation], into writer: inout ByteWriter) {
        writer.write(UInt32(operations.count))
        for operation in operations { operation.encode(into: &writer) }
    }

    static func decodeList(from reader: inout ByteReader) throws(DecodeError) -> [TransactionOperation] {
        let count = Int(try reader.readUInt32())
        guard count <= TransactionLimits.operationsMax else { throw .invalid("\(count) operations in one transaction") }
        var operations: [TransactionOperation] = []
        for _ in 0..<count { operations.append(try decode(from: &reader)) }
        return operations
    }
}

extension AbortReason {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case let .conflict(key):
            writer.write(UInt8(1))
            writer.write(lengthPrefixed: key)
        case let .condition(key, current):
            writer.write(UInt8(2))
            writer.write(lengthPrefixed: key)
            writer.write(optionalBytes: current)
        case let .staleMap(shard):
            writer.write(UInt8(3))
            writer.write(shard.rawValue)
        case .stale:
            writer.write(UInt8(4))
        case .timeout:
            writer.write(UInt8(5))
        case let .invalid(reason):
            writer.write(UInt8(6))
            writer.write(String(reason.prefix(TransactionLimits.reasonBytesMax / 4)))
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> AbortReason {
        switch try reader.readUInt8() {
        case 1: return .conflict(key: try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax))
        case 2:
            let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            return .condition(key: key, current: try reader.readOptionalBytes(maximumCount: TransactionLimits.listBytesMax))
        case 3: return .staleMap(shard: ShardID(try reader.readUInt32()))
        case 4: return .stale
        case 5: return .timeout
        case 6: return .invalid(try reader.readString(maximumCount: TransactionLimits.reasonBytesMax))
        case let tag: throw .invalid("unknown abort reason \(tag)")
        }
    }
}

extension TransactionOutcome {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case let .committed(timestamp, reads):
            writer.write(UInt8(1))
            timestamp.encode(into: &writer)
            writer.write(UInt32(reads.count))
            for read in reads {
                writer.write(UInt32(read.operation))
                writer.write(optionalBytes: read.value)
            }
        case let .aborted(reason):
            writer.write(UInt8(2))
            reason.encode(into: &writer)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> TransactionOutcome {
        switch try reader.readUInt8() {
        case 1:
            let timestamp = try HybridTimestamp.decode(from: &reader)
            let count = Int(try reader.readUInt32())
            guard count <= TransactionLimits.operationsMax else { throw .invalid("\(count) reads in one outcome") }
            var reads: [TransactionRead] = []
            for _ in 0..<count {
                let operation = Int(try reader.readUInt32())
                reads.append(TransactionRead(operation: operation,
                    value: try reader.readOptionalBytes(maximumCount: TransactionLimits.listBytesMax)))
            }
            return .committed(timestamp: timestamp, reads: reads)
        case 2: return .aborted(try AbortReason.decode(from: &reader))
        case let tag: throw .invalid("unknown transaction outcome \(tag)")
        }
    }
}

/// A participant's answer to a prepare.
public enum Vote: Sendable, Equatable, CustomStringConvertible {
    /// Prepared at `timestamp` (the commit may not be earlier), with the reads it made.
    case yes(timestamp: HybridTimestamp, reads: [TransactionRead])
    case no(AbortReason)

    public var description: String {
        switch self {
        case let .yes(timestamp, reads): return "yes at \(timestamp) (\(reads.count) read(s))"
        case let .no(reason): return "no: \(reason)"
        }
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case let .yes(timestamp, reads):
            TransactionOutcome.committed(timestamp: timestamp, reads: reads).encode(into: &writer)
        case let .no(reason):
            TransactionOutcome.aborted(reason).encode(into: &writer)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> Vote {
        switch try TransactionOutcome.decode(from: &reader) {
        case let .committed(timestamp, reads): return .yes(timestamp: timestamp, reads: reads)
        case let .aborted(reason): return .no(reason)
        }
    }
}
