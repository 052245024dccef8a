/// The locks of one shard's prepared transactions: per key, either one exclusive holder
/// or any number of shared holders; and shared locks on key ranges (an `expectRange`'s),
/// which no other transaction may write into. Locks are taken without waiting
/// (`conflict` answers at once) and held until the transaction's decision is applied, so
/// the schedule is strict two-phase locking, and no transaction ever waits for another.
///
/// Replicated state: every replica applies the same prepares and finishes in log order
/// and holds the same locks; the table is in every snapshot.
public struct LockTable: Sendable, Equatable {
    public struct Lock: Sendable, Equatable {
        public var exclusive: TransactionID?
        /// Sorted.
        public var shared: [TransactionID]

        var isFree: Bool { exclusive == nil && shared.isEmpty }
    }

    /// A shared lock on a range of keys.
    public struct RangeLock: Sendable, Equatable {
        public var span: KeySpan
        public var holder: TransactionID
    }

    private(set) var locks: [[UInt8]: Lock] = [:]
    /// In (start, holder) order.
    private(set) var rangeLocks: [RangeLock] = []

    public init() {}

    public var isEmpty: Bool { locks.isEmpty && rangeLocks.isEmpty }
    public var count: Int { locks.count + rangeLocks.count }

    public func lock(on key: [UInt8]) -> Lock? { locks[key] }

    /// The first key (in the order given) whose lock `transaction` cannot take: held
    /// exclusively by another, or shared by another (a key lock, or a range lock covering
    /// it) when an exclusive lock is needed; then, for each range in turn, the smallest
    /// key in it another holds exclusively.
    public func conflict(for transaction: TransactionID, keys: [(key: [UInt8], exclusive: Bool)],
                         ranges: [KeySpan] = []) -> [UInt8]? {
        for (key, exclusive) in keys {
            if let lock = locks[key] {
                if let holder = lock.exclusive, holder != transaction { return key }
                if exclusive, lock.shared.contains(where: { $0 != transaction }) { return key }
            }
            if exclusive, rangeLocks.contains(where: { $0.holder != transaction && $0.span.contains(key) }) { return key }
        }
        for range in ranges {
            let held = locks.keys.filter { key in
                range.contains(key) && locks[key]!.exclusive.map { $0 != transaction } == true
            }
            if let first = held.min(by: { $0.lexicographicallyPrecedes($1) }) { return first }
        }
        return nil
    }

    /// Whether any transaction holds `key` exclusively (a plain read must not see past it).
    public func isExclusivelyLocked(_ key: [UInt8]) -> Bool {
        locks[key]?.exclusive != nil
    }

    /// Takes the locks; the caller checked `conflict` first.
    public mutating func acquire(for transaction: TransactionID, keys: [(key: [UInt8], exclusive: Bool)],
                                 ranges: [KeySpan] = []) {
        precondition(conflict(for: transaction, keys: keys, ranges: ranges) == nil, "\(transaction) takes a lock another holds")
        for span in ranges {
            let lock = RangeLock(span: span, holder: transaction)
            let position = rangeLocks.firstIndex { existing in
                span.start.lexicographicallyPrecedes(existing.span.start)
                    || (existing.span.start == span.start && existing.holder > transaction)
            } ?? rangeLocks.count
            rangeLocks.insert(lock, at: position)
        }
        for (key, exclusive) in keys {
            var lock = locks[key] ?? Lock(exclusive: nil, shared: [])
            if exclusive {
                lock.exclusive = transaction
                lock.shared.removeAll { $0 == transaction }
            } else if lock.exclusive != transaction, !lock.shared.contains(transaction) {
                lock.shared.append(transaction)
                lock.shared.sort()
            }
            locks[key] = lock
        }
    }

    /// Releases every lock `transaction` holds on `keys`, and every range lock it holds.
    public mutating func release(for transaction: TransactionID, keys: [[UInt8]]) {
        rangeLocks.removeAll { $0.holder == transaction }
        for key in keys {
            guard var lock = locks[key] else { continue }
            if lock.exclusive == transaction { lock.exclusive = nil }
            lock.shared.removeAll { $0 == transaction }
            locks[key] = lock.isFree ? nil : lock
        }
    }

    /// The locks, by key, for snapshots.
    public var sortedEntries: [(key: [UInt8], lock: Lock)] {
        locks.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, locks[$0]!) }
    }

    public init(entries: [(key: [UInt8], lock: Lock)]) {
        for (key, lock) in entries where !lock.isFree { locks[key] = lock }
    }
}
