/// Transactions over a `StorageBackend`: snapshot reads at a timestamp, read-write
/// transactions at `IsolationLevel.snapshot` or `.serializable`, commit timestamps
/// assigned in order, and a low-water mark that lets the backend drop old versions.
///
/// Conflict checks use the write sets of recent commits kept in memory: every commit
/// newer than the oldest running transaction's start. Nothing older can conflict.
///
/// Durability and visibility: `commit(…, waitForSync: true)` returns once the commit is
/// durable. With `waitForSync: false` the commit is applied but not yet durable; the
/// caller gathers several and calls `syncCommits()` once for all of them (group
/// commit), acknowledging none before it returns. New snapshots only see synced
/// commits, so no reader can observe a write that a crash could still take back.
public final class MVCCStore {
    public let backend: any StorageBackend
    /// The backend's limits (fixed when it opens), checked at every buffered write.
    let limits: StorageLimits
    /// The newest commit a new snapshot sees (synced).
    public private(set) var visibleTimestamp: Timestamp
    private var nextTimestamp: Timestamp
    private var nextTransactionID: UInt64 = 1
    /// Start timestamps of running transactions, sorted (a multiset).
    private var runningStarts: [Timestamp] = []
    private var recentCommits: [(timestamp: Timestamp, writtenKeys: [[UInt8]])] = []
    /// Commits applied but not yet synced.
    public private(set) var unsyncedCommits = 0
    public private(set) var conflicts = 0

    public init(backend: any StorageBackend) {
        self.backend = backend
        limits = backend.limits
        visibleTimestamp = backend.lastTimestamp
        nextTimestamp = backend.lastTimestamp + 1
        backend.lowWater = visibleTimestamp
    }

    public var runningTransactions: Int { runningStarts.count }

    /// The oldest timestamp any reader may still ask for.
    public var lowWater: Timestamp { runningStarts.first ?? visibleTimestamp }

    /// Begins a transaction reading the snapshot of the newest synced commit.
    public func begin(_ isolation: IsolationLevel = .snapshot) -> Transaction {
        let transaction = Transaction(store: self, id: nextTransactionID, isolation: isolation, start: visibleTimestamp)
        nextTransactionID += 1
        let index = runningStarts.firstIndex { $0 > visibleTimestamp } ?? runningStarts.count
        runningStarts.insert(visibleTimestamp, at: index)
        return transaction
    }

    /// Reads `key` as of `timestamp` outside any transaction (at or above `lowWater`).
    public func read(_ key: [UInt8], at timestamp: Timestamp? = nil) throws(StorageError) -> [UInt8]? {
        let at = timestamp ?? visibleTimestamp
        precondition(at >= lowWater, "a read below the low-water mark")
        return try backend.get(key, at: at)?.value
    }

    /// Commits `transaction`: validates it, assigns the next timestamp, applies its
    /// writes. Returns the commit timestamp. Throws `.conflict` (nothing applied) when
    /// validation fails.
    @discardableResult
    public func commit(_ transaction: Transaction, waitForSync: Bool = true) throws(StorageError) -> Timestamp {
        guard transaction.isRunning else { throw .transactionFinished }
        defer { finish(transaction) }
        let writes = transaction.sortedWrites
        if writes.isEmpty { return transaction.start }
        if let key = conflictingKey(transaction, writes: writes) {
            conflicts += 1
            throw .conflict(key: key)
        }
        let timestamp = nextTimestamp
        try backend.apply(writes, at: timestamp)
        nextTimestamp += 1
        transaction.commitTimestamp = timestamp
        recentCommits.append((timestamp, writes.map(\.key)))
        unsyncedCommits += 1
        if waitForSync { try syncCommits() }
        return timestamp
    }

    /// Makes every applied commit durable with one backend sync, then visible.
    public func syncCommits() throws(StorageError) {
        guard nextTimestamp - 1 > visibleTimestamp else { return }
        try backend.sync()
        visibleTimestamp = nextTimestamp - 1
        unsyncedCommits = 0
        trim()
    }

    /// Ends `transaction` without applying anything.
    public func rollback(_ transaction: Transaction) {
        guard transaction.isRunning else { return }
        finish(transaction)
    }

    private func finish(_ transaction: Transaction) {
        transaction.isRunning = false
        if let index = runningStarts.firstIndex(of: transaction.start) { runningStarts.remove(at: index) }
        trim()
    }

    /// Drops commit records no running transaction can conflict with, and passes the
    /// low-water mark on.
    private func trim() {
        let oldest = lowWater
        let keep = recentCommits.firstIndex { $0.timestamp > oldest } ?? recentCommits.count
        if keep > 0 { recentCommits.removeFirst(keep) }
        backend.lowWater = oldest
    }

    /// A key that makes `transaction` lose to a commit after its start, if any.
    private func conflictingKey(_ transaction: Transaction, writes: [KeyWrite]) -> [UInt8]? {
        let start = recentCommits.firstIndex { $0.timestamp > transaction.start } ?? recentCommits.count
        for commit in recentCommits[start...] {
            for key in commit.writtenKeys {
                if transaction.wrote(key) { return key }
                if transaction.isolation == .serializable && transaction.read(key) { return key }
            }
        }
        return nil
    }
}

/// One transaction. Reads see the snapshot at `start` plus the transaction's own
/// writes; writes are buffered until commit. Not for use after commit or rollback.
public final class Transaction {
    unowned let store: MVCCStore
    public let id: UInt64
    public let isolation: IsolationLevel
    /// The snapshot it reads.
    public let start: Timestamp
    public internal(set) var commitTimestamp: Timestamp?
    var isRunning = true
    // The buffers below change at every read or write of the transaction, only in
    // this class's own methods, one call at a time (no method calls out while it holds
    // one): Swift's dynamic exclusivity checks are left out on them.

    /// Buffered writes (nil value: delete), in the order their keys were first written.
    @exclusivity(unchecked) private var entries: [KeyWrite] = []
    /// While every key so far came in ascending order (a bulk load), `entries` is
    /// sorted and searched by bisection; the first key out of order builds `index`.
    private var ascending = true
    /// Position in `entries` by key, once out of order. Looked up, never iterated.
    private var index: [[UInt8]: Int] = [:]
    /// Keys read alone (serializable only), in the order read: appending costs no
    /// hashing. Sorted once, and only when a commit must be validated against them.
    @exclusivity(unchecked) private var readKeys: [[UInt8]] = []
    private var readKeysSorted = 0
    /// While a statement runs (`inStatement`): how to take back each write it buffered
    /// (SQL statements are atomic inside a transaction), the first `undoCount` entries.
    /// `previous` nil: the write appended an entry. Its slots are reused by the next
    /// statement, not freed.
    @exclusivity(unchecked) private var undoLog: [(position: Int, previous: [UInt8]??)] = []
    @exclusivity(unchecked) private var undoCount = 0
    private var inStatement = false
    /// The key `noteRead` recorded last: a statement that notes the same key (the SQL
    /// catalog) records it once, however many other reads come between.
    private var lastNoted: [UInt8]?
    private var readRanges: [(start: [UInt8], end: [UInt8]?)] = []

    init(store: MVCCStore, id: UInt64, isolation: IsolationLevel, start: Timestamp) {
        self.store = store
        self.id = id
        self.isolation = isolation
        self.start = start
    }

    private func checkRunning() throws(StorageError) {
        guard isRunning else { throw .transactionFinished }
    }

    /// Where `key` sits in `entries`, if written.
    private func position(of key: [UInt8]) -> Int? {
        guard ascending else { return index[key] }
        // Outside the written range (a bulk load probing its next key, or the catalog
        // key below every row): no search.
        guard !entries.isEmpty, compareBytes(key, entries[entries.count - 1].key) <= 0, compareBytes(key, entries[0].key) >= 0 else {
            return nil
        }
        let low = Transaction.lowerBound(key, entries.count) { entries[$0].key }
        return low < entries.count && entries[low].key == key ? low : nil
    }

    private func logUndo(_ position: Int, _ previous: [UInt8]??) {
        guard inStatement else { return }
        if undoCount < undoLog.count { undoLog[undoCount] = (position, previous) } else { undoLog.append((position, previous)) }
        undoCount += 1
    }

    private func buffer(_ key: [UInt8], _ value: [UInt8]?) {
        if ascending {
            if entries.isEmpty || compareBytes(entries[entries.count - 1].key, key) < 0 {
                logUndo(entries.count, nil)
                entries.append(KeyWrite(key: key, value: value))
                return
            }
            if let found = position(of: key) {
                logUndo(found, .some(entries[found].value))
                entries[found].value = value
                return
            }
            ascending = false
            for (position, entry) in entries.enumerated() { index[entry.key] = position }
        }
        if let found = index[key] {
            logUndo(found, .some(entries[found].value))
            entries[found].value = value
        } else {
            logUndo(entries.count, nil)
            index[key] = entries.count
            entries.append(KeyWrite(key: key, value: value))
        }
    }

    /// Marks the start of a statement whose writes `undoStatement()` can take back.
    public func beginStatement() {
        undoCount = 0
        inStatement = true
    }

    /// Keeps the running statement's writes.
    public func endStatement() {
        undoCount = 0
        inStatement = false
        // A big statement's old values are let go of, not kept for reuse.
        if undoLog.count > 1024 { undoLog = [] }
    }

    /// Takes back every write since `beginStatement()` (newest first), leaving the
    /// transaction as it was before the statement. Its reads stay recorded: validating
    /// more than was needed is safe.
    public func undoStatement() {
        guard inStatement else { return }
        for (position, previous) in undoLog[..<undoCount].reversed() {
            if let previous {
                entries[position].value = previous
            } else {
                precondition(position == entries.count - 1, "statement undo out of order")
                let removed = entries.removeLast()
                if !ascending { index[removed.key] = nil }
            }
        }
        endStatement()
    }

    public func get(_ key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try checkRunning()
        if let found = position(of: key) { return entries[found].value }
        if isolation == .serializable { recordRead(key) }
        return try store.backend.get(key, at: start)?.value
    }

    /// Records a read of `key` whose value the caller already knows (it has not changed
    /// since this transaction's snapshot), so serializable validation still covers it.
    public func noteRead(_ key: [UInt8]) {
        guard isolation == .serializable, lastNoted != key else { return }
        lastNoted = key
        recordRead(key)
    }

    /// Whether this transaction has written `key`.
    public func hasWritten(_ key: [UInt8]) -> Bool { wrote(key) }

    public func put(_ key: [UInt8], _ value: [UInt8]) throws(StorageError) {
        try checkRunning()
        try store.limits.check(key: key, value: value)
        buffer(key, value)
    }

    public func delete(_ key: [UInt8]) throws(StorageError) {
        try checkRunning()
        try store.limits.check(key: key, value: nil)
        buffer(key, nil)
    }

    /// Keys in [start, end) in order with their values, own writes included.
    public func scan(from start: [UInt8], to end: [UInt8]?, limit: Int = .max) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try checkRunning()
        if isolation == .serializable { readRanges.append((start, end)) }
        let inRange = sortedWrites.filter { Transaction.key($0.key, isIn: start, end) }
        // Read enough from the snapshot that deletions of our own cannot starve the limit.
        let stored = try store.backend.scan(from: start, to: end, at: self.start,
                                            limit: limit == .max ? .max : limit + inRange.count)
        // Nothing of its own in the range (every read-only scan): the snapshot as it is.
        if inRange.isEmpty { return stored }
        var result: [(key: [UInt8], value: [UInt8])] = []
        var storedIndex = 0
        var writeIndex = 0
        while result.count < limit && (storedIndex < stored.count || writeIndex < inRange.count) {
            let order: Int
            if storedIndex == stored.count { order = 1 } else if writeIndex == inRange.count { order = -1 } else {
                order = compareBytes(stored[storedIndex].key, inRange[writeIndex].key)
            }
            if order < 0 {
                result.append(stored[storedIndex])
                storedIndex += 1
            } else {
                if let value = inRange[writeIndex].value { result.append((inRange[writeIndex].key, value)) }
                writeIndex += 1
                if order == 0 { storedIndex += 1 }
            }
        }
        return result
    }

    /// The rows of `scan`, packed. Without writes of its own in the range (every
    /// read-only scan) the snapshot's chunk is handed over as the backend packed it.
    public func scanChunk(from start: [UInt8], to end: [UInt8]?, limit: Int = .max) throws(StorageError) -> ScanChunk {
        try checkRunning()
        if !hasWrites(from: start, to: end) {
            if isolation == .serializable { readRanges.append((start, end)) }
            return try store.backend.scanChunk(from: start, to: end, at: self.start, limit: limit)
        }
        return ScanChunk(try scan(from: start, to: end, limit: limit))
    }

    /// Whether any buffered write falls in [start, end).
    private func hasWrites(from start: [UInt8], to end: [UInt8]?) -> Bool {
        if entries.isEmpty { return false }
        if ascending {
            let low = Transaction.lowerBound(start, entries.count) { entries[$0].key }
            return low < entries.count && Transaction.key(entries[low].key, isIn: start, end)
        }
        return entries.contains { Transaction.key($0.key, isIn: start, end) }
    }

    public var writeCount: Int { entries.count }

    /// The buffered writes in key order (deterministic, whatever the hash seed): what a
    /// commit applies.
    public var sortedWrites: [KeyWrite] {
        ascending ? entries : entries.sorted { compareBytes($0.key, $1.key) < 0 }
    }

    func wrote(_ key: [UInt8]) -> Bool { position(of: key) != nil }

    private func recordRead(_ key: [UInt8]) {
        if readKeys.last == key { return }
        readKeys.append(key)
        // A transaction that reads the same keys over and over keeps them once.
        if readKeys.count > 4 * max(readKeysSorted, 65_536) { sortReadKeys() }
    }

    /// Sorts the read keys and drops repeats.
    private func sortReadKeys() {
        readKeys.sort { compareBytes($0, $1) < 0 }
        var kept = 0
        for index in readKeys.indices where kept == 0 || readKeys[index] != readKeys[kept - 1] {
            readKeys.swapAt(kept, index)
            kept += 1
        }
        readKeys.removeLast(readKeys.count - kept)
        readKeysSorted = readKeys.count
    }

    /// Whether the transaction read `key`, alone or within a scanned range.
    func read(_ key: [UInt8]) -> Bool {
        if readKeysSorted < readKeys.count { sortReadKeys() }
        let low = Transaction.lowerBound(key, readKeys.count) { readKeys[$0] }
        if low < readKeys.count && readKeys[low] == key { return true }
        return readRanges.contains { Transaction.key(key, isIn: $0.start, $0.end) }
    }

    /// The first position in a sorted run of `count` keys whose key is not below `key`.
    private static func lowerBound(_ key: [UInt8], _ count: Int, _ keyAt: (Int) -> [UInt8]) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if compareBytes(keyAt(middle), key) < 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Whether `key` lies in [start, end) (no end: unbounded).
    private static func key(_ key: [UInt8], isIn start: [UInt8], _ end: [UInt8]?) -> Bool {
        compareBytes(key, start) >= 0 && (end.map { compareBytes(key, $0) < 0 } ?? true)
    }
}
