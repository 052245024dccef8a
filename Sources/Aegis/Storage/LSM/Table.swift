/// Sorted string tables: immutable files of versions in `VersionedKey` order.
///
///     data blocks (each sealed: maybe compressed, then codec, length, CRC32C)
///     filter block (a Bloom filter over the keys, sealed uncompressed)
///     properties block (sealed uncompressed)
///     index block (one entry per data block: its last key and timestamp → offset, size)
///     footer (52 bytes): filter, properties and index handles (offset u64, size u32
///                        each), format version u32, magic u64, CRC32C u32 of the rest
///
/// Every block is checksummed, so damage anywhere is found when that part is read and
/// surfaces as `StorageError.corruption`, never as data.

/// What the manifest records of a table.
public struct TableMeta: Sendable, Equatable {
    public var fileNumber: UInt64
    public var fileBytes: Int
    public var entryCount: Int
    public var smallestKey: [UInt8]
    public var smallestTimestamp: Timestamp
    public var largestKey: [UInt8]
    public var largestTimestamp: Timestamp
    public var timestampMax: Timestamp
    /// Uncompressed and stored bytes of its data blocks (the compression ratio).
    public var rawDataBytes: Int
    public var storedDataBytes: Int

    public var name: String { TableMeta.fileName(fileNumber) }

    public static func fileName(_ number: UInt64) -> String {
        let digits = String(number)
        return "table-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".sst"
    }

    /// The number in a table file name, or nil if it is not one.
    public static func fileNumber(of name: String) -> UInt64? {
        guard name.hasPrefix("table-"), name.hasSuffix(".sst") else { return nil }
        return UInt64(name.dropFirst(6).dropLast(4))
    }

    func overlaps(_ low: [UInt8], _ high: [UInt8]) -> Bool {
        compareBytes(largestKey, low) >= 0 && compareBytes(smallestKey, high) <= 0
    }
}

struct BlockHandle: Equatable {
    var offset: UInt64
    var size: UInt32

    static let encodedBytes = 12

    func encode(into writer: inout ByteWriter) {
        writer.write(offset)
        writer.write(size)
    }

    var bytes: [UInt8] {
        var writer = ByteWriter(capacity: 12)
        encode(into: &writer)
        return writer.bytes
    }

    static func decode(_ reader: inout ByteReader) throws(DecodeError) -> BlockHandle {
        BlockHandle(offset: try reader.readUInt64(), size: try reader.readUInt32())
    }
}

enum TableFormat {
    static let magic: UInt64 = 0x3154_5353_4947_4541  // "AEGISST1" little-endian
    static let version: UInt32 = 1
    static let footerBytes = 3 * BlockHandle.encodedBytes + 4 + 8 + 4
}

/// Writes one table from versions given in order. The file is created at the first
/// `add`'s flush and synced and closed by `finish`.
final class TableWriter {
    let disk: any Disk
    let fileNumber: UInt64
    let options: StorageOptions
    let context: CodecContext?
    private var file: DiskFile?
    private var offset = 0
    // Changed for every entry added, only by this class's own methods, one call at a
    // time: Swift's dynamic exclusivity checks are left out here.
    @exclusivity(unchecked) private var output: [UInt8] = []
    @exclusivity(unchecked) private var block: BlockBuilder
    private var index: BlockBuilder
    @exclusivity(unchecked) private var keyHashes: [UInt64] = []
    @exclusivity(unchecked) private var lastKey: [UInt8] = []
    @exclusivity(unchecked) private var meta: TableMeta
    private var started = false

    init(disk: any Disk, fileNumber: UInt64, options: StorageOptions, context: CodecContext? = nil) {
        self.disk = disk
        self.fileNumber = fileNumber
        self.options = options
        self.context = context
        block = BlockBuilder(restartInterval: options.blockRestartInterval)
        index = BlockBuilder(restartInterval: 1)
        meta = TableMeta(fileNumber: fileNumber, fileBytes: 0, entryCount: 0, smallestKey: [], smallestTimestamp: 0,
                         largestKey: [], largestTimestamp: 0, timestampMax: 0, rawDataBytes: 0, storedDataBytes: 0)
    }

    var entryCount: Int { meta.entryCount }
    /// The file's size so far, for splitting compaction output.
    var estimatedBytes: Int { offset + output.count + block.estimatedBytes }

    func add(key: [UInt8], timestamp: Timestamp, value: [UInt8]?) throws(DiskError) {
        if meta.entryCount == 0 {
            meta.smallestKey = key
            meta.smallestTimestamp = timestamp
        }
        if meta.entryCount == 0 || key != lastKey {
            keyHashes.append(BloomFilter.hash(key))
            lastKey = key
        }
        meta.entryCount += 1
        meta.largestKey = key
        meta.largestTimestamp = timestamp
        meta.timestampMax = max(meta.timestampMax, timestamp)
        block.add(key: key, timestamp: timestamp, value: value)
        if block.estimatedBytes >= options.blockBytes { try finishBlock() }
    }

    private func finishBlock() throws(DiskError) {
        guard !block.isEmpty else { return }
        let lastKey = block.lastKey
        let lastTimestamp = block.lastTimestamp
        let raw = block.finish()
        let (stored, _) = BlockBuilder.seal(raw, compression: options.compression, context: context)
        meta.rawDataBytes += raw.count
        meta.storedDataBytes += stored.count
        let handle = BlockHandle(offset: UInt64(offset + output.count), size: UInt32(stored.count))
        output.append(contentsOf: stored)
        index.add(key: lastKey, timestamp: lastTimestamp, value: handle.bytes)
        if output.count >= 256 << 10 { try flushOutput() }
    }

    private func flushOutput() throws(DiskError) {
        if file == nil { file = try disk.create(meta.name) }
        guard !output.isEmpty, let file else { return }
        try disk.write(file, offset: offset, bytes: output)
        offset += output.count
        output.removeAll(keepingCapacity: true)
    }

    private func appendSealed(_ raw: [UInt8]) -> BlockHandle {
        let (stored, _) = BlockBuilder.seal(raw, compression: .none)
        let handle = BlockHandle(offset: UInt64(offset + output.count), size: UInt32(stored.count))
        output.append(contentsOf: stored)
        return handle
    }

    /// Writes the filter, properties, index and footer, syncs and closes the file.
    func finish() throws(DiskError) -> TableMeta {
        precondition(meta.entryCount > 0, "an empty table")
        try finishBlock()
        let filter = appendSealed(BloomFilter.build(hashes: keyHashes, bitsPerKey: options.bloomBitsPerKey))
        let properties = appendSealed(TableWriter.encodeProperties(meta))
        let indexHandle = appendSealed(index.finish())
        var footer = ByteWriter(capacity: TableFormat.footerBytes)
        filter.encode(into: &footer)
        properties.encode(into: &footer)
        indexHandle.encode(into: &footer)
        footer.write(TableFormat.version)
        footer.write(TableFormat.magic)
        footer.write(CRC32C.checksum(footer.bytes))
        output.append(contentsOf: footer.bytes)
        try flushOutput()
        meta.fileBytes = offset
        if let file {
            try disk.sync(file)
            disk.close(file)
        }
        file = nil
        return meta
    }

    /// Gives up on the table: closes and removes the file (best effort). Returns false
    /// if the process crashed meanwhile (which the caller must pass on).
    func abandon() -> Bool {
        if let file { disk.close(file) }
        file = nil
        guard disk.exists(meta.name) else { return true }
        do {
            try disk.remove(meta.name)
        } catch {
            return error != .crashed
        }
        return true
    }

    static func encodeProperties(_ meta: TableMeta) -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + meta.smallestKey.count + meta.largestKey.count)
        writer.write(UInt64(meta.entryCount))
        writer.write(lengthPrefixed: meta.smallestKey)
        writer.write(meta.smallestTimestamp)
        writer.write(lengthPrefixed: meta.largestKey)
        writer.write(meta.largestTimestamp)
        writer.write(meta.timestampMax)
        writer.write(UInt64(meta.rawDataBytes))
        writer.write(UInt64(meta.storedDataBytes))
        return writer.bytes
    }
}

/// An open table: footer, index and filter read and checked at open and kept; data
/// blocks read on demand through the block cache.
final class TableReader {
    let disk: any Disk
    let meta: TableMeta
    let file: DiskFile
    let index: Block
    let filter: [UInt8]
    let cache: BlockCache
    let verifyChecksums: Bool
    var context: CodecContext?
    /// Data blocks read from disk (cache misses), for statistics.
    private(set) var blockReads = 0

    /// The file's name, for errors (made once: cursors carry it).
    let name: String

    private init(disk: any Disk, meta: TableMeta, file: DiskFile, index: Block, filter: [UInt8], cache: BlockCache,
                 verifyChecksums: Bool) {
        self.disk = disk
        self.meta = meta
        name = meta.name
        self.file = file
        self.index = index
        self.filter = filter
        self.cache = cache
        self.verifyChecksums = verifyChecksums
    }

    deinit {
        disk.close(file)
    }

    static func open(disk: any Disk, meta: TableMeta, cache: BlockCache, verifyChecksums: Bool) throws(StorageError) -> TableReader {
        let name = meta.name
        let file: DiskFile
        do {
            file = try disk.open(name)
        } catch .notFound {
            throw .corruption(file: name, detail: "the manifest lists this table but the file is missing")
        } catch {
            throw .disk(error)
        }
        do {
            let size = try disk.size(file)
            guard size == meta.fileBytes, size >= TableFormat.footerBytes else {
                throw StorageError.corruption(file: name, detail: "the file has \(size) bytes, the manifest says \(meta.fileBytes)")
            }
            let footer = try readRaw(disk, file, name, offset: size - TableFormat.footerBytes, count: TableFormat.footerBytes)
            var reader = ByteReader(footer)
            let parsed: (BlockHandle, BlockHandle, BlockHandle)
            do {
                let filterHandle = try BlockHandle.decode(&reader)
                let propertiesHandle = try BlockHandle.decode(&reader)
                let indexHandle = try BlockHandle.decode(&reader)
                let version = try reader.readUInt32()
                let magic = try reader.readUInt64()
                let checksum = try reader.readUInt32()
                guard magic == TableFormat.magic, version == TableFormat.version,
                      !verifyChecksums || CRC32C.checksum(footer[0..<(TableFormat.footerBytes - 4)]) == checksum
                else { throw StorageError.corruption(file: name, detail: "the footer is damaged") }
                parsed = (filterHandle, propertiesHandle, indexHandle)
            } catch let error as DecodeError {
                throw StorageError.corruption(file: name, detail: "the footer does not decode: \(error)")
            }
            let filter = try readBlock(disk, file, name, parsed.0, fileBytes: size, verify: verifyChecksums)
            let indexBytes = try readBlock(disk, file, name, parsed.2, fileBytes: size, verify: verifyChecksums)
            guard let index = Block(indexBytes) else { throw StorageError.corruption(file: name, detail: "the index block is malformed") }
            return TableReader(disk: disk, meta: meta, file: file, index: index, filter: filter, cache: cache,
                               verifyChecksums: verifyChecksums)
        } catch let error as StorageError {
            disk.close(file)
            throw error
        } catch {
            disk.close(file)
            throw .corruption(file: name, detail: "\(error)")
        }
    }

    private static func readRaw(_ disk: any Disk, _ file: DiskFile, _ name: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try disk.read(file, offset: offset, count: count)
        } catch {
            throw .disk(error)
        }
        guard bytes.count == count else { throw .corruption(file: name, detail: "the file ends early") }
        return bytes
    }

    static func readBlock(_ disk: any Disk, _ file: DiskFile, _ name: String, _ handle: BlockHandle, fileBytes: Int,
                          verify: Bool, context: CodecContext? = nil) throws(StorageError) -> [UInt8] {
        guard handle.offset <= UInt64(fileBytes), UInt64(handle.size) <= UInt64(fileBytes) - handle.offset,
              handle.size >= UInt32(BlockBuilder.trailerBytes) else {
            throw .corruption(file: name, detail: "a block handle points outside the file")
        }
        let stored = try readRaw(disk, file, name, offset: Int(handle.offset), count: Int(handle.size))
        guard let block = BlockBuilder.unseal(stored, verifyChecksum: verify, context: context) else {
            throw .corruption(file: name, detail: "the block at offset \(handle.offset) fails its checksum")
        }
        return block
    }

    /// A data block, through the cache.
    func dataBlock(_ handle: BlockHandle) throws(StorageError) -> Block {
        let key = BlockCache.Key(file: meta.fileNumber, offset: handle.offset)
        if let bytes = cache.get(key), let block = Block(bytes) { return block }
        blockReads += 1
        let bytes = try TableReader.readBlock(disk, file, name, handle, fileBytes: meta.fileBytes, verify: verifyChecksums,
                                              context: context)
        guard let block = Block(bytes) else { throw .corruption(file: name, detail: "a data block is malformed") }
        cache.insert(key, bytes: bytes)
        return block
    }

    /// The handle an index cursor points at.
    func handle(of indexCursor: BlockCursor) throws(StorageError) -> BlockHandle {
        guard let handle = indexCursor.handle else { throw .corruption(file: name, detail: "an index entry is malformed") }
        return handle
    }

    /// The newest version of `key` at or below `timestamp` in this table, if any.
    func get(_ key: [UInt8], hash: UInt64, at timestamp: Timestamp) throws(StorageError) -> Version? {
        guard compareBytes(key, meta.smallestKey) >= 0, compareBytes(key, meta.largestKey) <= 0,
              BloomFilter.mayContain(filter, hash: hash) else { return nil }
        let indexCursor = BlockCursor(index, fileName: name)
        try indexCursor.seek(key, timestamp: timestamp)
        guard indexCursor.isValid else { return nil }
        let cursor = BlockCursor(try dataBlock(try handle(of: indexCursor)), fileName: name)
        try cursor.seek(key, timestamp: timestamp)
        guard cursor.isValid, cursor.key == key else { return nil }
        return Version(timestamp: cursor.timestamp, value: cursor.value)
    }

    func makeCursor() -> TableCursor {
        TableCursor(table: self)
    }
}

/// Walks a table in order, a block at a time.
final class TableCursor: VersionCursor {
    let table: TableReader
    private let indexCursor: BlockCursor
    // Per-entry state that only this cursor's own methods touch, one call at a time:
    // Swift's dynamic exclusivity checks are left out here (they cost a quarter of a scan).
    @exclusivity(unchecked) private var dataCursor: BlockCursor?

    init(table: TableReader) {
        self.table = table
        indexCursor = BlockCursor(table.index, fileName: table.name)
    }

    var isValid: Bool { dataCursor?.isValid ?? false }
    var key: [UInt8] { dataCursor!.key }
    var timestamp: Timestamp { dataCursor!.timestamp }
    var value: [UInt8]? { dataCursor!.value }
    var isTombstone: Bool { dataCursor!.isTombstone }

    private func loadBlock() throws(StorageError) {
        guard indexCursor.isValid else {
            dataCursor = nil
            return
        }
        dataCursor = BlockCursor(try table.dataBlock(try table.handle(of: indexCursor)), fileName: table.name)
    }

    /// Moves past empty or exhausted blocks.
    private func skipExhausted() throws(StorageError) {
        while let cursor = dataCursor, !cursor.isValid {
            try indexCursor.next()
            try loadBlock()
            try dataCursor?.seekToFirst()
        }
    }

    func seekToFirst() throws(StorageError) {
        try indexCursor.seekToFirst()
        try loadBlock()
        try dataCursor?.seekToFirst()
        try skipExhausted()
    }

    func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError) {
        try indexCursor.seek(key, timestamp: timestamp)
        try loadBlock()
        try dataCursor?.seek(key, timestamp: timestamp)
        try skipExhausted()
    }

    func next() throws(StorageError) {
        try dataCursor?.next()
        try skipExhausted()
    }

    /// Block after block, each walked by its own cursor.
    func scanVisible(_ run: inout VisibleRun) throws(StorageError) {
        while let cursor = dataCursor {
            try cursor.scanVisible(&run)
            if cursor.isValid { return }
            try skipExhausted()
        }
    }
}
