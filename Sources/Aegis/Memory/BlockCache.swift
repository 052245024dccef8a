/// A cache of decoded table blocks with a byte budget and least-recently-used
/// eviction: the engine's buffer pool. Every entry is charged its bytes plus a fixed
/// overhead, and an insert evicts from the cold end until the total fits the budget,
/// so `chargedBytes <= budgetBytes` holds after every call. A block larger than the
/// whole budget is not cached at all.
///
/// Lookups go through a Dictionary; its order is never iterated. Recency is an
/// intrusive doubly linked list over slot indices.
public final class BlockCache {
    public struct Key: Hashable, Sendable {
        /// Which table (its file number) and where in it.
        public var file: UInt64
        public var offset: UInt64

        public init(file: UInt64, offset: UInt64) {
            self.file = file
            self.offset = offset
        }
    }

    /// Bookkeeping per entry beyond its bytes: the slot, the dictionary entry, the
    /// array header.
    public static let entryOverheadBytes = 96

    public let budgetBytes: Int
    public private(set) var chargedBytes = 0
    public private(set) var hits = 0
    public private(set) var misses = 0
    public private(set) var evictions = 0
    /// The most that was ever charged at once.
    public private(set) var chargedBytesPeak = 0

    private struct Slot {
        var key: Key
        var bytes: [UInt8]
        var charge: Int
        var newer: Int32
        var older: Int32
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var index: [Key: Int32] = [:]
    /// Most recently used, and least.
    private var newest: Int32 = -1
    private var oldest: Int32 = -1

    public init(budgetBytes: Int) {
        precondition(budgetBytes >= 0, "a cache budget cannot be negative")
        self.budgetBytes = budgetBytes
    }

    public var count: Int { index.count }

    /// The cached bytes for `key`, now the most recently used.
    public func get(_ key: Key) -> [UInt8]? {
        guard let slot = index[key] else {
            misses += 1
            return nil
        }
        hits += 1
        moveToNewest(slot)
        return slots[Int(slot)].bytes
    }

    /// Caches `bytes` under `key` (replacing any), evicting as needed to stay in budget.
    public func insert(_ key: Key, bytes: [UInt8]) {
        remove(key)
        let charge = bytes.count + BlockCache.entryOverheadBytes
        guard charge <= budgetBytes else { return }
        while chargedBytes + charge > budgetBytes, oldest >= 0 {
            evictions += 1
            removeSlot(oldest)
        }
        let slot: Int32
        let entry = Slot(key: key, bytes: bytes, charge: charge, newer: -1, older: newest)
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = entry
        } else {
            slot = Int32(slots.count)
            slots.append(entry)
        }
        if newest >= 0 { slots[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
        index[key] = slot
        chargedBytes += charge
        chargedBytesPeak = max(chargedBytesPeak, chargedBytes)
        precondition(chargedBytes <= budgetBytes, "block cache over budget")
    }

    /// Drops `key` if cached.
    public func remove(_ key: Key) {
        if let slot = index[key] { removeSlot(slot) }
    }

    /// Drops every block of `file` (a table that was deleted). Walks the recency list,
    /// whose order is the cache's own and deterministic.
    public func removeAll(file: UInt64) {
        var slot = oldest
        while slot >= 0 {
            let next = slots[Int(slot)].newer
            if slots[Int(slot)].key.file == file { removeSlot(slot) }
            slot = next
        }
    }

    private func unlink(_ slot: Int32) {
        let entry = slots[Int(slot)]
        if entry.newer >= 0 { slots[Int(entry.newer)].older = entry.older } else { newest = entry.older }
        if entry.older >= 0 { slots[Int(entry.older)].newer = entry.newer } else { oldest = entry.newer }
    }

    private func moveToNewest(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        slots[Int(slot)].older = newest
        slots[Int(slot)].newer = -1
        if newest >= 0 { slots[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private func removeSlot(_ slot: Int32) {
        unlink(slot)
        let entry = slots[Int(slot)]
        index[entry.key] = nil
        chargedBytes -= entry.charge
        slots[Int(slot)].bytes = []
        freeSlots.append(slot)
    }
}
