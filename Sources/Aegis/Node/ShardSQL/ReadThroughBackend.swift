/// The storage one run of a SQL request on the sharded store works on: a private copy of
/// what the request has read from the shards (`ShardReadCache`), to which the run's
/// own commits are applied, so the SQL engine runs on it unchanged (MVCC snapshots,
/// statement undo, constraints). It keeps three records for the caller:
///
/// - `misses`: ranges a read needed that were never read from the shards. The run goes
///   on as if they held nothing (so one run finds many of the reads it needs, not one),
///   its result is thrown away, and the caller reads those ranges and runs the request
///   again from the start;
/// - `observed`: every range a read depended on, to be checked at commit
///   (`expectRange`): a point read the key's own span, a scan its range, or up to just
///   past its last row when it stopped at its limit;
/// - `written`: each key the run's commits changed, with its last value (nil deleted).
final class ReadThroughBackend: StorageBackend {
    private let cache: ShardReadCache
    private let store: MemoryBackend
    private(set) var misses: [KeySpan] = []
    private(set) var observed: [KeySpan] = []
    private var written: [[UInt8]: [UInt8]?] = [:]

    /// A copy of `cache` at timestamps 1, 2, … (one batch of pairs each).
    init(cache: ShardReadCache) throws(StorageError) {
        self.cache = cache
        var limits = StorageLimits()
        limits.batchBytesMax = Int.max / 4
        store = MemoryBackend(limits: limits)
        let pairs = cache.allPairs
        if !pairs.isEmpty { try store.apply(pairs.map { KeyWrite(key: $0.key, value: $0.value) }, at: 1) }
    }

    /// A shard transaction's bounds, so a key or value too large for the shards is
    /// refused by the SQL engine itself, with its usual error.
    var limits: StorageLimits {
        var limits = StorageLimits()
        limits.keyBytesMax = TransactionLimits.keyBytesMax
        limits.valueBytesMax = TransactionLimits.valueBytesMax
        limits.batchBytesMax = TransactionLimits.bytesMax
        return limits
    }
    var lastTimestamp: Timestamp { store.lastTimestamp }
    var durableTimestamp: Timestamp { store.durableTimestamp }
    var lowWater: Timestamp {
        get { store.lowWater }
        set { store.lowWater = newValue }
    }

    /// The keys the run's commits changed, in key order, with their final values.
    var writes: [(key: [UInt8], value: [UInt8]?)] {
        written.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, written[$0]!) }
    }

    func apply(_ writes: [KeyWrite], at timestamp: Timestamp) throws(StorageError) {
        try store.apply(writes, at: timestamp)
        for write in writes { written[write.key] = .some(write.value) }
    }

    func sync() throws(StorageError) {
        try store.sync()
    }

    func get(_ key: [UInt8], at timestamp: Timestamp) throws(StorageError) -> Version? {
        let span = KeySpans.single(key)
        require(span)
        observed.append(span)
        return try store.get(key, at: timestamp)
    }

    func scan(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) throws(StorageError)
        -> [(key: [UInt8], value: [UInt8])] {
        if let end, !start.lexicographicallyPrecedes(end) { return [] }
        require(KeySpan(start: start, end: end))
        let rows = try store.scan(from: start, to: end, at: timestamp, limit: limit)
        if rows.count >= limit, let last = rows.last {
            observed.append(KeySpan(start: start, end: last.key + [0]))
        } else {
            observed.append(KeySpan(start: start, end: end))
        }
        return rows
    }

    func collectGarbage() throws(StorageError) {}

    func versions(of key: [UInt8]) throws(StorageError) -> [Version] {
        try store.versions(of: key)
    }

    private func require(_ span: KeySpan) {
        misses += cache.uncovered(span)
    }
}
