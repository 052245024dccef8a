/// The in-memory, sorted buffer of recent versions: a skip list whose nodes, keys and
/// values all live in one `Arena`, so the table's memory is one number
/// (`bytesReserved`) and is freed in one go when the table is flushed.
///
/// Order is `VersionedKey`'s: key ascending, then timestamp descending. Inserting a
/// (key, timestamp) that is already present puts the new version first, so lookups
/// see the latest insert. Single-threaded, like the rest of the engine.
///
/// A node, 8-byte aligned in the arena:
///
///     0  timestamp u64     8  key length u32     12 value length u32 (tombstone: max)
///     16 height u32        20 (padding)          24 next pointers, `height` of them
///     then the key bytes, then the value bytes
public final class Memtable {
    static let heightMax = 12
    static let tombstoneLength = UInt32.max
    static let nextOffset = 24

    let arena: Arena
    private let head: UnsafeMutableRawPointer
    // The fields below change at every insert, only in this class's own methods, one
    // call at a time: Swift's dynamic exclusivity checks are left out here.
    @exclusivity(unchecked) private var height = 1
    /// The last node on each level (nil: the level is empty), so an insert past the
    /// end — a sequential load — links in without searching.
    @exclusivity(unchecked) private var tails = [UnsafeMutableRawPointer?](repeating: nil, count: Memtable.heightMax)
    @exclusivity(unchecked) private var randomState: UInt64
    @exclusivity(unchecked) public private(set) var entryCount = 0
    @exclusivity(unchecked) public private(set) var tombstoneCount = 0
    /// Key and value bytes inserted (what a flush will write, before encoding).
    @exclusivity(unchecked) public private(set) var payloadBytes = 0
    @exclusivity(unchecked) public private(set) var timestampMax: Timestamp = 0

    public init(arenaChunkBytes: Int = 256 * 1024, seed: UInt64 = 0x5EED_AE61_5000_0001) {
        arena = Arena(chunkBytes: arenaChunkBytes)
        randomState = seed | 1
        head = arena.allocate(byteCount: Memtable.nextOffset + 8 * Memtable.heightMax, alignment: 8)
        head.storeBytes(of: 0, as: UInt64.self)
        head.storeBytes(of: 0, toByteOffset: 8, as: UInt32.self)
        head.storeBytes(of: 0, toByteOffset: 12, as: UInt32.self)
        head.storeBytes(of: UInt32(Memtable.heightMax), toByteOffset: 16, as: UInt32.self)
        for level in 0..<Memtable.heightMax { Memtable.setNext(head, level, nil) }
    }

    /// The memory the table holds: its arena's chunks.
    public var bytesReserved: Int { arena.bytesReserved }
    public var isEmpty: Bool { entryCount == 0 }

    // MARK: node fields

    @inline(__always) static func timestamp(_ node: UnsafeMutableRawPointer) -> Timestamp {
        node.load(as: UInt64.self)
    }

    @inline(__always) static func keyLength(_ node: UnsafeMutableRawPointer) -> Int {
        Int(node.load(fromByteOffset: 8, as: UInt32.self))
    }

    @inline(__always) static func valueLength(_ node: UnsafeMutableRawPointer) -> UInt32 {
        node.load(fromByteOffset: 12, as: UInt32.self)
    }

    @inline(__always) static func nodeHeight(_ node: UnsafeMutableRawPointer) -> Int {
        Int(node.load(fromByteOffset: 16, as: UInt32.self))
    }

    @inline(__always) static func next(_ node: UnsafeMutableRawPointer, _ level: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: node.load(fromByteOffset: nextOffset + 8 * level, as: UInt.self))
    }

    @inline(__always) static func setNext(_ node: UnsafeMutableRawPointer, _ level: Int, _ target: UnsafeMutableRawPointer?) {
        node.storeBytes(of: UInt(bitPattern: target), toByteOffset: nextOffset + 8 * level, as: UInt.self)
    }

    @inline(__always) static func keyPointer(_ node: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: node + nextOffset + 8 * nodeHeight(node), count: keyLength(node))
    }

    static func key(_ node: UnsafeMutableRawPointer) -> [UInt8] {
        [UInt8](bytes: keyPointer(node))
    }

    static func value(_ node: UnsafeMutableRawPointer) -> [UInt8]? {
        let length = valueLength(node)
        guard length != tombstoneLength else { return nil }
        let start = node + nextOffset + 8 * nodeHeight(node) + keyLength(node)
        return [UInt8](bytes: UnsafeRawBufferPointer(start: start, count: Int(length)))
    }

    /// Compares the node's (key, timestamp) with the target's: negative when the node
    /// sorts first.
    @inline(__always)
    static func compare(_ node: UnsafeMutableRawPointer, _ key: UnsafeRawBufferPointer, _ timestamp: Timestamp) -> Int {
        let order = compareRaw(keyPointer(node), key)
        if order != 0 { return order }
        let nodeTimestamp = Memtable.timestamp(node)
        return nodeTimestamp == timestamp ? 0 : (nodeTimestamp > timestamp ? -1 : 1)
    }

    // MARK: insert and search

    private func randomHeight() -> Int {
        var level = 1
        while level < Memtable.heightMax {
            randomState ^= randomState << 13
            randomState ^= randomState >> 7
            randomState ^= randomState << 17
            guard randomState & 3 == 0 else { break }
            level += 1
        }
        return level
    }

    /// The first node at or after (key, timestamp), filling `before` with the last node
    /// before it on each level when asked.
    private func seekNode(
        _ key: UnsafeRawBufferPointer, _ timestamp: Timestamp,
        before: UnsafeMutablePointer<UnsafeMutableRawPointer>?
    ) -> UnsafeMutableRawPointer? {
        var node = head
        var level = height - 1
        while true {
            let candidate = Memtable.next(node, level)
            if let candidate, Memtable.compare(candidate, key, timestamp) < 0 {
                node = candidate
            } else {
                before?[level] = node
                if level == 0 { return candidate }
                level -= 1
            }
        }
    }

    /// Adds a version of `key`; `value` nil is a tombstone.
    public func insert(key: [UInt8], timestamp: Timestamp, value: [UInt8]?) {
        precondition(key.count < Int(UInt32.max) && (value?.count ?? 0) < Int(UInt32.max), "memtable entry too large")
        let nodeHeight = randomHeight()
        let valueCount = value?.count ?? 0
        let node = arena.allocate(byteCount: Memtable.nextOffset + 8 * nodeHeight + key.count + valueCount, alignment: 8)
        node.storeBytes(of: timestamp, as: UInt64.self)
        node.storeBytes(of: UInt32(key.count), toByteOffset: 8, as: UInt32.self)
        node.storeBytes(of: value == nil ? Memtable.tombstoneLength : UInt32(valueCount), toByteOffset: 12, as: UInt32.self)
        node.storeBytes(of: UInt32(nodeHeight), toByteOffset: 16, as: UInt32.self)
        let keyStart = node + Memtable.nextOffset + 8 * nodeHeight
        key.withUnsafeBytes { if let base = $0.baseAddress, !$0.isEmpty { keyStart.copyMemory(from: base, byteCount: $0.count) } }
        if let value {
            value.withUnsafeBytes { if let base = $0.baseAddress, !$0.isEmpty { (keyStart + key.count).copyMemory(from: base, byteCount: $0.count) } }
        }
        withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: Memtable.heightMax) { before in
            let pointer = before.baseAddress!
            let pastTheEnd = tails[0].map { last in key.withUnsafeBytes { Memtable.compare(last, $0, timestamp) < 0 } } ?? true
            if pastTheEnd {
                for level in 0..<Memtable.heightMax { pointer[level] = tails[level] ?? head }
            } else {
                for level in 0..<Memtable.heightMax { pointer[level] = head }
                _ = key.withUnsafeBytes { seekNode($0, timestamp, before: pointer) }
            }
            if nodeHeight > height { height = nodeHeight }
            for level in 0..<nodeHeight {
                Memtable.setNext(node, level, Memtable.next(pointer[level], level))
                Memtable.setNext(pointer[level], level, node)
                if Memtable.next(node, level) == nil { tails[level] = node }
            }
        }
        entryCount += 1
        if value == nil { tombstoneCount += 1 }
        payloadBytes += key.count + valueCount + 8
        timestampMax = max(timestampMax, timestamp)
    }

    /// The newest version of `key` with a timestamp at or below `timestamp`: found
    /// (with its timestamp and value, nil for a tombstone) or nil when there is none.
    public func get(_ key: [UInt8], at timestamp: Timestamp) -> Version? {
        key.withUnsafeBytes { raw in
            // Past the last key (a sequential load checking its next key): no search.
            guard let last = tails[0], compareRaw(Memtable.keyPointer(last), raw) >= 0 else { return nil }
            guard let node = seekNode(raw, timestamp, before: nil),
                  compareRaw(Memtable.keyPointer(node), raw) == 0 else { return nil }
            return Version(timestamp: Memtable.timestamp(node), value: Memtable.value(node))
        }
    }

    /// A cursor over the table in order. The table must outlive it (the cursor holds it).
    public func makeCursor() -> MemtableCursor {
        MemtableCursor(table: self)
    }

    fileprivate func first() -> UnsafeMutableRawPointer? {
        Memtable.next(head, 0)
    }

    fileprivate func seek(_ key: [UInt8], _ timestamp: Timestamp) -> UnsafeMutableRawPointer? {
        key.withUnsafeBytes { seekNode($0, timestamp, before: nil) }
    }
}

/// Walks a memtable in order.
public final class MemtableCursor: VersionCursor {
    private let table: Memtable
    // Per-entry state that only this cursor's own methods touch, one call at a time:
    // Swift's dynamic exclusivity checks are left out here (they cost a quarter of a scan).
    @exclusivity(unchecked) private var node: UnsafeMutableRawPointer?
    /// The current key, copied out once per position.
    @exclusivity(unchecked) public private(set) var key: [UInt8] = []

    init(table: Memtable) {
        self.table = table
    }

    private func moved(to target: UnsafeMutableRawPointer?) {
        node = target
        key = target.map(Memtable.key) ?? []
    }

    public var isValid: Bool { node != nil }
    public func seekToFirst() throws(StorageError) { moved(to: table.first()) }
    public func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError) { moved(to: table.seek(key, timestamp)) }
    public func next() throws(StorageError) { moved(to: node.flatMap { Memtable.next($0, 0) }) }
    public var timestamp: Timestamp { Memtable.timestamp(node!) }
    public var value: [UInt8]? { Memtable.value(node!) }
    public var isTombstone: Bool { Memtable.valueLength(node!) == Memtable.tombstoneLength }

    /// Node after node, comparing keys in place; a key is copied out only for a row.
    public func scanVisible(_ run: inout VisibleRun) throws(StorageError) {
        while let current = node {
            let timestamp = Memtable.timestamp(current)
            let raw = Memtable.keyPointer(current)
            if run.stops(before: raw, timestamp) {
                key = Memtable.key(current)
                return
            }
            if run.wants(raw, timestamp) {
                let length = Memtable.valueLength(current)
                if length == Memtable.tombstoneLength {
                    run.hide(raw)
                } else {
                    run.emit(raw, UnsafeRawBufferPointer(start: raw.baseAddress! + raw.count, count: Int(length)))
                }
            }
            node = Memtable.next(current, 0)
        }
        key = []
    }
}

/// Lexicographic comparison of raw byte ranges: negative, zero or positive.
@inline(__always) @usableFromInline
func compareRaw(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Int {
    let count = min(left.count, right.count)
    if count > 0, let a = left.baseAddress, let b = right.baseAddress {
        let order = memcmpBytes(a, b, count)
        if order != 0 { return order }
    }
    return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
}

/// `VersionedKey` order over raw keys: key ascending, then timestamp descending.
@inline(__always)
func compareVersions(_ key: UnsafeRawBufferPointer, _ timestamp: Timestamp,
                     _ other: UnsafeRawBufferPointer, _ otherTimestamp: Timestamp) -> Int {
    let order = compareRaw(key, other)
    if order != 0 { return order }
    return timestamp == otherTimestamp ? 0 : (timestamp > otherTimestamp ? -1 : 1)
}

@inline(__always) @usableFromInline
func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Int {
    var index = 0
    while index + 8 <= count {
        let x = UInt64(bigEndian: a.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        let y = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        if x != y { return x < y ? -1 : 1 }
        index += 8
    }
    while index < count {
        let x = a.load(fromByteOffset: index, as: UInt8.self)
        let y = b.load(fromByteOffset: index, as: UInt8.self)
        if x != y { return x < y ? -1 : 1 }
        index += 1
    }
    return 0
}
