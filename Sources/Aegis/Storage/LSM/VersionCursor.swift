/// A cursor over versions in `VersionedKey` order (key ascending, timestamp
/// descending), the shape every sorted source in the tree shares: memtables, blocks,
/// tables, levels and their merge. Reading a table can find damage, so moving throws.
public protocol VersionCursor: AnyObject {
    var isValid: Bool { get }
    func seekToFirst() throws(StorageError)
    /// To the first version at or after (key, timestamp).
    func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError)
    func next() throws(StorageError)
    /// The current version's key, timestamp and value (nil for a tombstone); only
    /// while `isValid`.
    var key: [UInt8] { get }
    var timestamp: Timestamp { get }
    var value: [UInt8]? { get }
    /// Whether the current version is a deletion (without copying out a value).
    var isTombstone: Bool { get }
    /// Walks forward from the current version, handing each to `run`, and stops on
    /// the first version `run` says to stop before (left current) or when out of
    /// versions (no longer valid).
    func scanVisible(_ run: inout VisibleRun) throws(StorageError)
}

extension VersionCursor {
    /// One version at a time through the protocol; leaf cursors walk their own storage.
    public func scanVisible(_ run: inout VisibleRun) throws(StorageError) {
        while isValid {
            let key = self.key
            let timestamp = self.timestamp
            let proceed = key.withUnsafeBytes { raw in
                if run.stops(before: raw, timestamp) { return false }
                if run.wants(raw, timestamp) {
                    if let value { value.withUnsafeBytes { run.emit(raw, $0) } } else { run.hide(raw) }
                }
                return true
            }
            if !proceed { return }
            try next()
        }
    }
}

/// Rows a range read gave, packed: every key in one byte array and every value in
/// another, so a chunk of a thousand rows is a handful of allocations, not two per row.
public struct ScanChunk {
    public private(set) var keyBytes: [UInt8] = []
    public private(set) var valueBytes: [UInt8] = []
    /// Where each row's key and value end in those arrays.
    private var keyEnds: [Int] = []
    private var valueEnds: [Int] = []

    public init() {}

    /// An empty chunk with room for about `rows` rows of the given average sizes, so
    /// filling it does not regrow its arrays over and over.
    public init(reservingRows rows: Int, keyBytes keyBytesEach: Int, valueBytes valueBytesEach: Int) {
        keyBytes.reserveCapacity(rows * keyBytesEach)
        valueBytes.reserveCapacity(rows * valueBytesEach)
        keyEnds.reserveCapacity(rows)
        valueEnds.reserveCapacity(rows)
    }

    /// Packs rows given one by one.
    public init(_ rows: [(key: [UInt8], value: [UInt8])]) {
        for (key, value) in rows {
            key.withUnsafeBytes { rawKey in value.withUnsafeBytes { append(key: rawKey, value: $0) } }
        }
    }

    public var count: Int { keyEnds.count }
    public var isEmpty: Bool { keyEnds.isEmpty }

    public func key(_ row: Int) -> ArraySlice<UInt8> {
        keyBytes[(row == 0 ? 0 : keyEnds[row - 1])..<keyEnds[row]]
    }

    public func value(_ row: Int) -> ArraySlice<UInt8> {
        valueBytes[(row == 0 ? 0 : valueEnds[row - 1])..<valueEnds[row]]
    }

    /// The last row's key, compared in place.
    func lastKeyOrder(_ key: UnsafeRawBufferPointer) -> Int {
        let start = keyEnds.count < 2 ? 0 : keyEnds[keyEnds.count - 2]
        return keyBytes.withUnsafeBytes { compareRaw(key, UnsafeRawBufferPointer(rebasing: $0[start..<keyEnds[keyEnds.count - 1]])) }
    }

    public mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        keyBytes.appendBytes(key)
        keyEnds.append(keyBytes.count)
        valueBytes.appendBytes(value)
        valueEnds.append(valueBytes.count)
    }

    /// The rows unpacked, each key and value its own array.
    public var rows: [(key: [UInt8], value: [UInt8])] {
        (0..<count).map { (Array(key($0)), Array(value($0))) }
    }
}

/// A range read at a snapshot as sorted sources hand it versions: for each key, its
/// newest version at or below `snapshot` decides, and the key is a row unless that
/// version is a tombstone. Versions arrive in (key ascending, timestamp descending)
/// order, so a key is decided by the first visible version seen; the rest of its
/// versions, in any source, are skipped.
///
/// A source stops before `end` (the range is done), after `limit` rows (done), or
/// before the bound (another source holds the next version; the merge switches).
public struct VisibleRun {
    public let snapshot: Timestamp
    public let end: [UInt8]?
    public let limit: Int
    public private(set) var chunk = ScanChunk()
    /// Set once the range or the limit is reached.
    public private(set) var finished = false
    /// Which key was decided last: none, the chunk's last row, or a tombstone's key
    /// (kept in `hiddenKey`).
    private enum Decided { case none, lastRow, hidden }
    private var decided = Decided.none
    private var hiddenKey: [UInt8] = []
    private var hasBound = false
    private var bound: [UInt8] = []
    private var boundTimestamp: Timestamp = 0
    /// Whether the bound comes from a newer source, so an equal version stops too.
    private var boundIsNewer = false

    public init(snapshot: Timestamp, end: [UInt8]?, limit: Int) {
        self.snapshot = snapshot
        self.end = end
        self.limit = limit
        // Room for a modest read up front; a longer one grows as usual.
        chunk = ScanChunk(reservingRows: min(limit, 128), keyBytes: 24, valueBytes: 64)
    }

    mutating func setBound(_ key: [UInt8], _ timestamp: Timestamp, boundIsNewer: Bool) {
        hasBound = true
        bound = key
        boundTimestamp = timestamp
        self.boundIsNewer = boundIsNewer
    }

    mutating func clearBound() {
        hasBound = false
        bound = []
    }

    /// Whether a source must stop before the version (key, timestamp).
    @inline(__always)
    public mutating func stops(before key: UnsafeRawBufferPointer, _ timestamp: Timestamp) -> Bool {
        if chunk.count >= limit {
            finished = true
            return true
        }
        // The bound first: past it another source holds versions this one cannot
        // judge, even ones before `end`.
        if hasBound {
            let order = bound.withUnsafeBytes { compareVersions(key, timestamp, $0, boundTimestamp) }
            if order > 0 || (order == 0 && boundIsNewer) { return true }
        }
        if let end, end.withUnsafeBytes({ compareRaw(key, $0) >= 0 }) {
            finished = true
            return true
        }
        return false
    }

    /// Whether the version (key, timestamp) decides its key: visible at the snapshot,
    /// and the key not decided already.
    @inline(__always)
    public func wants(_ key: UnsafeRawBufferPointer, _ timestamp: Timestamp) -> Bool {
        guard timestamp <= snapshot else { return false }
        switch decided {
        case .none: return true
        case .lastRow: return chunk.lastKeyOrder(key) != 0
        case .hidden: return hiddenKey.withUnsafeBytes { compareRaw(key, $0) } != 0
        }
    }

    /// The deciding version is a value: a row.
    @inline(__always)
    public mutating func emit(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        decided = .lastRow
        chunk.append(key: key, value: value)
    }

    /// The deciding version is a tombstone: no row, and older versions stay hidden.
    public mutating func hide(_ key: UnsafeRawBufferPointer) {
        decided = .hidden
        hiddenKey.removeAll(keepingCapacity: true)
        hiddenKey.appendBytes(key)
    }
}

/// Little-endian base-128 integers, as table blocks store lengths.
enum Varint {
    @inline(__always)
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// The value at `offset` and the offset after it, or nil if it runs past `end` or
    /// over ten bytes.
    @inline(__always)
    static func read(_ bytes: UnsafeRawBufferPointer, _ offset: Int, end: Int) -> (UInt64, Int)? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var position = offset
        while position < end, shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return (result, position) }
            shift += 7
        }
        return nil
    }
}

extension Array where Element == UInt8 {
    /// Appends raw bytes as one copy (a raw buffer appended as a sequence is copied
    /// byte by byte).
    @inline(__always)
    mutating func appendBytes(_ raw: UnsafeRawBufferPointer) {
        raw.withMemoryRebound(to: UInt8.self) { append(contentsOf: $0) }
    }

    /// Raw bytes as an array, in one copy.
    @inline(__always)
    init(bytes raw: UnsafeRawBufferPointer) {
        self = raw.withMemoryRebound(to: UInt8.self) { Array($0) }
    }
}
