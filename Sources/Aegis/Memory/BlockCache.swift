/// A cache of decoded table blocks with a byte budget: the engine's buffer pool.
/// Every entry is charged its bytes plus a fixed overhead, and an insert evicts until
/// the total fits the budget, so `chargedBytes <= budgetBytes` holds after every call.
/// A block larger than the whole budget is not cached at all.
///
/// Eviction is a segmented LRU, so one long scan cannot flush the blocks that are
/// used again and again: a block enters a probation segment; a hit moves it to a
/// protected segment (at most `protectedShare` of the budget; its least recently used
/// blocks fall back to probation). Eviction takes the least recently used probation
/// block, and a protected one only when probation is empty. A full scan of a table
/// larger than the cache then only cycles probation; under plain LRU it would evict
/// everything, every time.
///
/// Lookups go through a Dictionary; its order is never iterated. Recency is an
/// intrusive doubly linked list per segment over slot indices.
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
    /// The most of the budget the protected segment holds, in fifths.
    public static let protectedFifths = 4

    public let budgetBytes: Int
    public var protectedBudgetBytes: Int { budgetBytes / 5 * BlockCache.protectedFifths }
    public private(set) var chargedBytes = 0
    public private(set) var protectedBytes = 0
    public private(set) var hits = 0
    public private(set) var misses = 0
    public private(set) var evictions = 0
    /// The most that was ever charged at once.
    public private(set) var chargedBytesPeak = 0

    private static let probation = 0
    private static let protected = 1

    private struct Slot {
        var key: Key
        var bytes: [UInt8]
        var charge: Int
        var segment: Int
        var newer: Int32
        var older: Int32
    }

    // Touched at every block read, only by this class's own methods, one call at a
    // time: Swift's dynamic exclusivity checks are left out here.
    @exclusivity(unchecked) private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    @exclusivity(unchecked) private var index: [Key: Int32] = [:]
    /// Most recently used and least, per segment.
    @exclusivity(unchecked) private var newest: [Int32] = [-1, -1]
    @exclusivity(unchecked) private var oldest: [Int32] = [-1, -1]

    public init(budgetBytes: Int) {
        precondition(budgetBytes >= 0, "a cache budget cannot be negative")
        self.budgetBytes = budgetBytes
    }

    public var count: Int { index.count }

    /// The cached bytes for `key`, now the most recently used of the protected segment.
    public func get(_ key: Key) -> [UInt8]? {
        guard let slot = index[key] else {
            misses += 1
            return nil
        }
        hits += 1
        // Already the most recently used: nothing moves.
        if slot == newest[BlockCache.protected] { return slots[Int(slot)].bytes }
        unlink(slot)
        if slots[Int(slot)].segment == BlockCache.probation {
            slots[Int(slot)].segment = BlockCache.protected
            protectedBytes += slots[Int(slot)].charge
        }
        link(slot, BlockCache.protected)
        while protectedBytes > protectedBudgetBytes {
            let demoted = oldest[BlockCache.protected]
            unlink(demoted)
            slots[Int(demoted)].segment = BlockCache.probation
            protectedBytes -= slots[Int(demoted)].charge
            link(demoted, BlockCache.probation)
        }
        return slots[Int(slot)].bytes
    }

    /// Caches `bytes` under `key` (replacing any) on probation, evicting as needed to
    /// stay in budget.
    public func insert(_ key: Key, bytes: [UInt8]) {
        remove(key)
        let charge = bytes.count + BlockCache.entryOverheadBytes
        guard charge <= budgetBytes else { return }
        while chargedBytes + charge > budgetBytes {
            let victim = oldest[BlockCache.probation] >= 0 ? oldest[BlockCache.probation] : oldest[BlockCache.protected]
            guard victim >= 0 else { break }
            evictions += 1
            removeSlot(victim)
        }
        let slot: Int32
        let entry = Slot(key: key, bytes: bytes, charge: charge, segment: BlockCache.probation, newer: -1, older: -1)
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = entry
        } else {
            slot = Int32(slots.count)
            slots.append(entry)
        }
        link(slot, BlockCache.probation)
        index[key] = slot
        chargedBytes += charge
        chargedBytesPeak = max(chargedBytesPeak, chargedBytes)
        precondition(chargedBytes <= budgetBytes, "block cache over budget")
    }

    /// Drops `key` if cached.
    public func remove(_ key: Key) {
        if let slot = index[key] { removeSlot(slot) }
    }

    /// Drops every block of `file` (a table that was deleted). Walks the recency lists,
    /// whose order is the cache's own and deterministic.
    public func removeAll(file: UInt64) {
        for segment in [BlockCache.probation, BlockCache.protected] {
            var slot = oldest[segment]
            while slot >= 0 {
                let next = slots[Int(slot)].newer
                if slots[Int(slot)].key.file == file { removeSlot(slot) }
                slot = next
            }
        }
    }

    /// The keys of one segment, least recently used first (for tests).
    func keys(protected: Bool) -> [Key] {
        var result: [Key] = []
        var slot = oldest[protected ? BlockCache.protected : BlockCache.probation]
        while slot >= 0 {
            result.append(slots[Int(slot)].key)
            slot = slots[Int(slot)].newer
        }
        return result
    }

    private func unlink(_ slot: Int32) {
        // Field by field: copying the whole slot would retain and release its bytes.
        let newer = slots[Int(slot)].newer
        let older = slots[Int(slot)].older
        let segment = slots[Int(slot)].segment
        if newer >= 0 { slots[Int(newer)].older = older } else { newest[segment] = older }
        if older >= 0 { slots[Int(older)].newer = newer } else { oldest[segment] = newer }
    }

    /// Makes `slot` the most recently used of `segment` (its `segment` field must say so).
    private func link(_ slot: Int32, _ segment: Int) {
        slots[Int(slot)].older = newest[segment]
        slots[Int(slot)].newer = -1
        if newest[segment] >= 0 { slots[Int(newest[segment])].newer = slot }
        newest[segment] = slot
        if oldest[segment] < 0 { oldest[segment] = slot }
    }

    private func removeSlot(_ slot: Int32) {
        unlink(slot)
        let charge = slots[Int(slot)].charge
        index[slots[Int(slot)].key] = nil
        chargedBytes -= charge
        if slots[Int(slot)].segment == BlockCache.protected { protectedBytes -= charge }
        slots[Int(slot)].bytes = []
        freeSlots.append(slot)
    }
}
