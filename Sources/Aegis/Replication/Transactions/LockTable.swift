/// The locks of one shard's prepared transactions: per key, either one exclusive holder
/// or any number of shared holders. Locks are taken without waiting (`conflict` answers
/// at once) and held until the transaction's decision is applied, so the schedule is
/// strict two-phase locking, and no transaction ever waits for another.
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

    private(set) var locks: [[UInt8]: Lock] = [:]

    public init() {}

    public var isEmpty: Bool { locks.isEmpty }
    public var count: Int { locks.count }

    public func lock(on key: [UInt8]) -> Lock? { locks[key] }

    /// The first key (in the order given) whose lock `transaction` cannot take: held
    /// exclusively by another, or shared by another when an exclusive lock is needed.
    public func conflict(for transaction: TransactionID, keys: [(key: [UInt8], exclusive: Bool)]) -> [UInt8]? {
        for (key, exclusive) in keys {
            guard let lock = locks[key] else { continue }
            if let holder = lock.exclusive, holder != transaction { return key }
            if exclusive, lock.shared.contains(where: { $0 != transaction }) { return key }
        }
        return nil
    }

    /// Whether any transaction holds `key` exclusively (a plain read must not see past it).
    public func isExclusivelyLocked(_ key: [UInt8]) -> Bool {
        locks[key]?.exclusive != nil
    }

    /// Takes the locks; the caller checked `conflict` first.
    public mutating func acquire(for transaction: TransactionID, keys: [(key: [UInt8], exclusive: Bool)]) {
        precondition(conflict(for: transaction, keys: keys) == nil, "\(transaction) takes a lock another holds")
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

    /// Releases every lock `transaction` holds on `keys`.
    public mutating func release(for transaction: TransactionID, keys: [[UInt8]]) {
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
