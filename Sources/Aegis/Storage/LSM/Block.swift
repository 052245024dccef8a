/// The sorted blocks tables are made of (data blocks and the index block alike).
///
/// A block, before compression:
///
///     entries, each:  shared-prefix varint, unshared varint, kind u8 (0 tombstone,
///                     1 value), [value length varint], timestamp u64,
///                     key suffix, value
///     restart offsets u32…, restart count u32
///
/// Every `restartInterval`-th entry stores its whole key (shared = 0) and its offset
/// goes in the restart array, so a lookup binary-searches the restarts and then scans
/// at most an interval. On disk a block is followed by a trailer:
///
///     codec u8, uncompressed length u32, CRC32C u32 (over the stored bytes, codec and length)
struct BlockBuilder {
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var sinceRestart = 0
    private(set) var lastKey: [UInt8] = []
    private(set) var lastTimestamp: Timestamp = 0
    private(set) var count = 0

    init(restartInterval: Int) {
        precondition(restartInterval >= 1, "a block needs a restart interval of at least one")
        self.restartInterval = restartInterval
        buffer.reserveCapacity(4096 + 512)
    }

    var isEmpty: Bool { count == 0 }
    /// The block's size once finished, before compression.
    var estimatedBytes: Int { buffer.count + 4 * restarts.count + 4 }

    mutating func add(key: [UInt8], timestamp: Timestamp, value: [UInt8]?) {
        var shared = 0
        if sinceRestart < restartInterval {
            shared = lastKey.withUnsafeBufferPointer { last in
                key.withUnsafeBufferPointer { next in
                    let limit = min(last.count, next.count)
                    var common = 0
                    while common < limit && last[common] == next[common] { common += 1 }
                    return common
                }
            }
        } else {
            restarts.append(UInt32(buffer.count))
            sinceRestart = 0
        }
        // The entry's header is put together on the stack and appended in one go.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { header in
            var length = 0
            func put(varint: Int) {
                var remaining = UInt64(varint)
                while remaining >= 0x80 {
                    header[length] = UInt8(truncatingIfNeeded: remaining) | 0x80
                    length += 1
                    remaining >>= 7
                }
                header[length] = UInt8(remaining)
                length += 1
            }
            put(varint: shared)
            put(varint: key.count - shared)
            if let value {
                header[length] = 1
                length += 1
                put(varint: value.count)
            } else {
                header[length] = 0
                length += 1
            }
            withUnsafeBytes(of: timestamp.littleEndian) { raw in
                for index in 0..<8 { header[length + index] = raw[index] }
            }
            length += 8
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: header[0..<length]))
        }
        key.withUnsafeBufferPointer { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: $0[shared...])) }
        if let value { buffer.append(contentsOf: value) }
        lastKey = key
        lastTimestamp = timestamp
        sinceRestart += 1
        count += 1
    }

    /// The finished block; the builder starts empty again.
    mutating func finish() -> [UInt8] {
        var result = buffer
        for restart in restarts { withUnsafeBytes(of: restart.littleEndian) { result.append(contentsOf: $0) } }
        withUnsafeBytes(of: UInt32(restarts.count).littleEndian) { result.append(contentsOf: $0) }
        buffer.removeAll(keepingCapacity: true)
        restarts = [0]
        sinceRestart = 0
        lastKey = []
        count = 0
        return result
    }

    static let trailerBytes = 9

    /// The block as stored: compressed if that helps, then the trailer.
    static func seal(_ block: [UInt8], compression: BlockCompression, context: CodecContext? = nil) -> (stored: [UInt8], codec: UInt8) {
        var (stored, codec) = BlockCodec.compress(block, with: compression, context: context)
        stored.append(codec)
        withUnsafeBytes(of: UInt32(block.count).littleEndian) { stored.append(contentsOf: $0) }
        let checksum = CRC32C.checksum(stored)
        withUnsafeBytes(of: checksum.littleEndian) { stored.append(contentsOf: $0) }
        return (stored, codec)
    }

    /// The block inside a stored one, checking its checksum unless told not to (a
    /// planted bug). Nil when damaged.
    static func unseal(_ stored: [UInt8], verifyChecksum: Bool, context: CodecContext? = nil) -> [UInt8]? {
        guard stored.count >= trailerBytes else { return nil }
        let body = stored.count - 4
        let checksum = stored.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: body, as: UInt32.self)) }
        if verifyChecksum && CRC32C.checksum(stored[0..<body]) != checksum { return nil }
        let codec = stored[body - 5]
        let length = stored.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: body - 4, as: UInt32.self))) }
        return BlockCodec.decompress(stored[0..<(body - 5)], codec: codec, uncompressedBytes: length, context: context)
    }
}

/// A decoded block, read in place. Construction checks the restart array; every entry
/// read is bounds-checked, so damaged bytes give `nil`/an invalid cursor, never a crash.
struct Block {
    let bytes: [UInt8]
    let restartsOffset: Int
    let restartCount: Int

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 4 else { return nil }
        let count = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self))) }
        guard count >= 1, count <= (bytes.count - 4) / 4 else { return nil }
        self.bytes = bytes
        restartCount = count
        restartsOffset = bytes.count - 4 - 4 * count
    }

    func restart(_ index: Int) -> Int {
        bytes.withUnsafeBytes { restart(index, in: $0) }
    }

    /// The same over the block's bytes already in hand.
    @inline(__always)
    func restart(_ index: Int, in raw: UnsafeRawBufferPointer) -> Int {
        Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: restartsOffset + 4 * index, as: UInt32.self)))
    }

    /// One decoded entry header: where its key suffix and value lie.
    struct Entry {
        var shared: Int
        var suffixStart: Int
        var suffixCount: Int
        var timestamp: Timestamp
        var valueStart: Int
        /// -1 for a tombstone.
        var valueCount: Int
        var end: Int
    }

    /// The entry at `offset`, or nil if it does not fit in the entry area.
    @inline(__always)
    func entry(at offset: Int, sharedMax: Int) -> Entry? {
        bytes.withUnsafeBytes { Block.entry(in: $0, restartsOffset: restartsOffset, at: offset, sharedMax: sharedMax) }
    }

    /// The same over the block's bytes already in hand.
    @inline(__always)
    static func entry(in raw: UnsafeRawBufferPointer, restartsOffset: Int, at offset: Int, sharedMax: Int) -> Entry? {
        let end = restartsOffset
        guard offset < end,
              let (shared, afterShared) = Varint.read(raw, offset, end: end),
              let (unshared, afterUnshared) = Varint.read(raw, afterShared, end: end),
              afterUnshared < end, shared <= UInt64(sharedMax), unshared <= UInt64(end)
        else { return nil }
        var position = afterUnshared + 1
        var valueCount = -1
        switch raw[afterUnshared] {
        case 0: break
        case 1:
            guard let (length, afterLength) = Varint.read(raw, position, end: end), length <= UInt64(end) else { return nil }
            valueCount = Int(length)
            position = afterLength
        default:
            return nil
        }
        guard position + 8 <= end else { return nil }
        let timestamp = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        let suffixStart = position + 8
        let valueStart = suffixStart + Int(unshared)
        let entryEnd = valueStart + max(valueCount, 0)
        guard entryEnd <= end else { return nil }
        return Entry(shared: Int(shared), suffixStart: suffixStart, suffixCount: Int(unshared),
                     timestamp: timestamp, valueStart: valueStart, valueCount: valueCount, end: entryEnd)
    }
}

/// Walks one block in order.
final class BlockCursor: VersionCursor {
    let block: Block
    /// Named in errors.
    let fileName: String
    // Per-entry state that only this cursor's own methods touch, one call at a time:
    // Swift's dynamic exclusivity checks are left out here (they cost a quarter of a scan).
    @exclusivity(unchecked) private(set) var key: [UInt8] = []
    @exclusivity(unchecked) private(set) var timestamp: Timestamp = 0
    @exclusivity(unchecked) private var entry: Block.Entry?
    /// Set when an entry failed to decode: the block is damaged past that point.
    private(set) var damaged = false

    init(_ block: Block, fileName: String) {
        self.block = block
        self.fileName = fileName
    }

    var isValid: Bool { entry != nil }

    var value: [UInt8]? {
        guard let entry, entry.valueCount >= 0 else { return nil }
        return Array(block.bytes[entry.valueStart..<(entry.valueStart + entry.valueCount)])
    }

    var isTombstone: Bool { (entry?.valueCount ?? 0) < 0 }

    /// The current value read as a block handle (an index block's entries), in place;
    /// nil when it is not one.
    var handle: BlockHandle? {
        guard let entry, entry.valueCount == BlockHandle.encodedBytes else { return nil }
        return block.bytes.withUnsafeBytes { raw in
            BlockHandle(offset: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: entry.valueStart, as: UInt64.self)),
                        size: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: entry.valueStart + 8, as: UInt32.self)))
        }
    }

    /// Decodes the entry at `offset` on top of the current key.
    private func load(_ offset: Int) {
        guard offset < block.restartsOffset else {
            entry = nil
            return
        }
        guard let decoded = block.entry(at: offset, sharedMax: key.count) else {
            entry = nil
            damaged = true
            return
        }
        key.removeLast(key.count - decoded.shared)
        block.bytes.withUnsafeBytes { bytes in
            key.appendBytes(UnsafeRawBufferPointer(rebasing: bytes[decoded.suffixStart..<(decoded.suffixStart + decoded.suffixCount)]))
        }
        timestamp = decoded.timestamp
        entry = decoded
    }

    private func check() throws(StorageError) {
        if damaged { throw .corruption(file: fileName, detail: "a block entry does not decode") }
    }

    func seekToFirst() throws(StorageError) {
        key.removeAll(keepingCapacity: true)
        load(block.restart(0))
        try check()
    }

    func next() throws(StorageError) {
        guard let entry else { return }
        load(entry.end)
        try check()
    }

    /// Versions straight from the block's bytes: the key is rebuilt in place and a
    /// value is copied out only for a row.
    func scanVisible(_ run: inout VisibleRun) throws(StorageError) {
        while let current = entry {
            let (stops, wanted) = key.withUnsafeBytes { raw in
                run.stops(before: raw, timestamp) ? (true, false) : (false, run.wants(raw, timestamp))
            }
            if stops { return }
            if wanted {
                key.withUnsafeBytes { rawKey in
                    if current.valueCount >= 0 {
                        block.bytes.withUnsafeBytes { bytes in
                            run.emit(rawKey, UnsafeRawBufferPointer(rebasing: bytes[current.valueStart..<(current.valueStart + current.valueCount)]))
                        }
                    } else {
                        run.hide(rawKey)
                    }
                }
            }
            load(current.end)
            try check()
        }
    }

    func seek(_ target: [UInt8], timestamp targetTimestamp: Timestamp) throws(StorageError) {
        // The last restart whose entry sorts before the target, compared in place.
        let block = self.block
        let found: Int? = block.bytes.withUnsafeBytes { raw in
            target.withUnsafeBytes { wanted in
                var low = 0
                var high = block.restartCount - 1
                while low < high {
                    let middle = (low + high + 1) / 2
                    let offset = block.restart(middle, in: raw)
                    guard let entry = Block.entry(in: raw, restartsOffset: block.restartsOffset, at: offset, sharedMax: 0) else { return nil }
                    let restartKey = UnsafeRawBufferPointer(rebasing: raw[entry.suffixStart..<(entry.suffixStart + entry.suffixCount)])
                    if compareVersions(restartKey, entry.timestamp, wanted, targetTimestamp) < 0 { low = middle } else { high = middle - 1 }
                }
                return low
            }
        }
        guard let low = found else { throw .corruption(file: fileName, detail: "a block restart point does not decode") }
        key.removeAll(keepingCapacity: true)
        load(block.restart(low))
        try check()
        while isValid && key.withUnsafeBytes({ left in target.withUnsafeBytes { compareVersions(left, timestamp, $0, targetTimestamp) } }) < 0 {
            try next()
        }
    }
}

extension BlockCompression {
    /// `block` as a table stores it: compressed with this codec when that helps, then
    /// the trailer (codec, length, CRC32C). For tools and benchmarks.
    public func seal(_ block: [UInt8], context: CodecContext? = nil) -> [UInt8] {
        BlockBuilder.seal(block, compression: self, context: context).stored
    }

    /// The block inside a sealed one, or nil when it is damaged.
    public static func unseal(_ stored: [UInt8], context: CodecContext? = nil) -> [UInt8]? {
        BlockBuilder.unseal(stored, verifyChecksum: true, context: context)
    }
}
