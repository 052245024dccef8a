/// A log-structured merge tree of versioned keys, on the Disk door.
///
/// Writes go to the write-ahead log and the memtable. A full memtable is flushed to a
/// level-0 table; level 0 is merged into level 1 once it holds
/// `level0CompactionTrigger` tables, and a deeper level into the next once it outgrows
/// its target (leveled compaction). Compactions drop versions no reader can see: of
/// the versions at or below the low-water mark only each key's newest is kept, and a
/// tombstone among those goes too once nothing older lies beneath it.
///
/// Files: `MANIFEST` (the table of contents), `wal-…` (the log), `table-NNNNNNNN.sst`.
/// Recovery reads the manifest, removes files it does not name (the leftovers of a
/// flush or compaction cut short), and replays the log past what the tables cover.
///
/// Errors: a failed write, sync, flush or compaction leaves what is durable unknown,
/// so the tree then refuses writes (`needsRecovery`) until it is reopened; reads go on.
/// Damage found by a compaction stops compactions but not reads and writes. A crash
/// (`DiskError.crashed`) is passed straight up.
public final class LSMTree {
    public struct Statistics: Sendable, Equatable {
        /// Key and value bytes committed by callers.
        public var userBytesWritten = 0
        public var walBytesWritten = 0
        public var flushBytesWritten = 0
        public var compactionBytesRead = 0
        public var compactionBytesWritten = 0
        public var flushes = 0
        /// Flushes whose table went below level 0 (it overlapped nothing there).
        public var flushesBelowLevel0 = 0
        public var compactions = 0
        public var versionsDropped = 0

        public init() {}

        /// Bytes written to disk per byte committed: log, flushes and compactions.
        public var writeAmplification: Double {
            userBytesWritten == 0 ? 0
                : Double(walBytesWritten + flushBytesWritten + compactionBytesWritten) / Double(userBytesWritten)
        }

        /// The same without the log: what the tree's shape costs.
        public var tableWriteAmplification: Double {
            userBytesWritten == 0 ? 0 : Double(flushBytesWritten + compactionBytesWritten) / Double(userBytesWritten)
        }
    }

    /// What opening found.
    public struct Recovery: Sendable, Equatable {
        public var createdFresh = false
        public var tables = 0
        public var walFrames = 0
        public var walRecords = 0
        public var tornFramesDropped = 0
        public var tornTailBytes = 0
        public var copiesRepaired = 0
        public var manifestCopyRepaired = false
        public var strayFilesRemoved = 0
    }

    public let disk: any Disk
    public let options: StorageOptions
    public let cache: BlockCache
    /// Compression state reused by every table this tree writes and reads.
    private let codecContext = CodecContext()
    private let wal: WriteAheadLog
    private var memtable: Memtable
    private var manifest: Manifest
    /// Open tables by file number; a table is opened on first use. Lookup only.
    private var readers: [UInt64: TableReader] = [:]
    /// The reader `reader(_:)` gave last (one of `readers`).
    private var lastReader: TableReader?
    private var nextFileNumber: UInt64
    public private(set) var lastTimestamp: Timestamp = 0
    /// Everything at or below it survives a crash.
    public private(set) var durableTimestamp: Timestamp = 0
    /// Set by the owner: no reader will ask for a timestamp below it.
    public var lowWater: Timestamp = 0
    private var failure: String?
    public private(set) var compactionHalt: StorageError?
    private var compactionPointers: [[UInt8]?]
    public private(set) var statistics = Statistics()
    public private(set) var recovery = Recovery()
    private var memtableSeed: UInt64 = 0x5EED
    /// A crash happened inside best-effort cleanup; every later error is that crash.
    private var crashedDuringCleanup = false

    static let commitRecord: UInt8 = 1

    /// Opens the tree in `disk`, creating it when the disk holds none.
    public init(disk: any Disk, options: StorageOptions = StorageOptions()) throws(StorageError) {
        self.disk = disk
        self.options = options
        cache = BlockCache(budgetBytes: options.blockCacheBytes)
        var walOptions = WriteAheadLog.Options()
        walOptions.segmentBytesMax = options.walSegmentBytesMax
        walOptions.skipSync = options.mutations.contains(.storageSkipWALSync)
        wal = WriteAheadLog(disk: disk, options: walOptions)
        memtable = Memtable(arenaChunkBytes: options.memtableArenaChunkBytes, seed: memtableSeed)
        manifest = Manifest(levelCount: options.levelCount)
        nextFileNumber = 1
        compactionPointers = Array(repeating: nil, count: options.levelCount)
        try open()
    }

    private func open() throws(StorageError) {
        let files = try StorageError.wrapDisk { () throws(DiskError) in try disk.list() }
        if files.contains(Manifest.fileName) {
            guard let (payload, repaired) = try StorageError.wrapDisk({ () throws(DiskError) in
                try TwinFile.read(magic: Manifest.magic, disk: disk, name: Manifest.fileName)
            }) else {
                throw .corruption(file: Manifest.fileName, detail: "neither copy of the manifest is readable")
            }
            do {
                manifest = try Manifest.decode(payload)
            } catch {
                throw .corruption(file: Manifest.fileName, detail: "the manifest does not decode: \(error)")
            }
            recovery.manifestCopyRepaired = repaired
            while manifest.levels.count < options.levelCount { manifest.levels.append([]) }
            compactionPointers = Array(repeating: nil, count: manifest.levels.count)
            nextFileNumber = manifest.nextFileNumber
            recovery.tables = manifest.tableCount
            try removeStrayFiles(files)
            let found = try wal.recover(after: manifest.walFramesCovered)
            recovery.walFrames = found.frames
            recovery.walRecords = found.records.count
            recovery.tornFramesDropped = found.tornFramesDropped
            recovery.tornTailBytes = found.tornTailBytes
            recovery.copiesRepaired = found.copiesRepaired
            lastTimestamp = manifest.tablesTimestampMax
            for (frame, record) in found.records {
                try replay(record, frame: frame)
            }
        } else {
            if let data = files.first(where: { $0.hasPrefix("wal-") || TableMeta.fileNumber(of: $0) != nil }) {
                throw .corruption(file: Manifest.fileName, detail: "the manifest is missing but '\(data)' exists")
            }
            recovery.createdFresh = true
            try removeStrayFiles(files)
            try writeManifest(manifest)
            try StorageError.wrapDisk { () throws(DiskError) in try wal.startFresh() }
        }
        durableTimestamp = lastTimestamp
        if memtable.bytesReserved >= options.memtableBytesMax {
            // A flush that fails here (a full disk) leaves the store open for reads
            // and refusing writes, with the reason.
            do {
                try flush()
            } catch {
                if error.isCrash { throw error }
            }
        }
    }

    /// Removes table files the manifest does not name and a leftover `MANIFEST.tmp`.
    private func removeStrayFiles(_ files: [String]) throws(StorageError) {
        var live = Set<UInt64>()
        for level in manifest.levels { for table in level { live.insert(table.fileNumber) } }
        var removed = 0
        for name in files {
            let stray = name == Manifest.fileName + ".tmp" || (TableMeta.fileNumber(of: name).map { !live.contains($0) } ?? false)
            guard stray else { continue }
            try StorageError.wrapDisk { () throws(DiskError) in try disk.remove(name) }
            removed += 1
        }
        if removed > 0 { try StorageError.wrapDisk { () throws(DiskError) in try disk.syncDirectory() } }
        recovery.strayFilesRemoved = removed
    }

    private func replay(_ record: WriteAheadLog.Record, frame: UInt64) throws(StorageError) {
        guard record.type == LSMTree.commitRecord, let (timestamp, writes) = LSMTree.decodeCommit(record.body) else {
            throw .corruption(file: "wal", detail: "frame \(frame) holds a record that does not decode")
        }
        // Records at or below the tables' newest timestamp are in the tables already.
        guard timestamp > lastTimestamp else { return }
        for write in writes { memtable.insert(key: write.key, timestamp: timestamp, value: write.value) }
        lastTimestamp = timestamp
    }

    // MARK: writing

    /// Applies `writes` as one atomic batch at `timestamp`, which must exceed every
    /// earlier one. Durable once a later `sync()` returns. Later writes to the same key
    /// in one batch win.
    ///
    /// If this throws, the batch was not applied. It does no I/O of its own beyond
    /// buffering, except a flush when the caller let the memtable reach twice its
    /// bound without a sync (before the batch goes in); flushes otherwise happen in
    /// `sync()`, after the log is durable.
    public func apply(_ writes: [KeyWrite], at timestamp: Timestamp) throws(StorageError) {
        if let failure { throw .needsRecovery(failure) }
        precondition(timestamp > lastTimestamp, "timestamps must increase: \(timestamp) after \(lastTimestamp)")
        for write in writes { try options.limits.check(key: write.key, value: write.value) }
        let batch = LSMTree.distinct(writes)
        let bodyBytes = LSMTree.commitBytes(batch)
        guard bodyBytes <= options.limits.batchBytesMax else {
            throw .batchTooLarge(bytes: bodyBytes, limit: options.limits.batchBytesMax)
        }
        if memtable.bytesReserved >= 2 * options.memtableBytesMax { try flush() }
        do {
            // Encoded straight into the log's pending group.
            try wal.add(type: LSMTree.commitRecord, bodyBytes: bodyBytes) { LSMTree.encodeCommit(timestamp: timestamp, writes: batch, into: &$0) }
        } catch {
            throw fail(.disk(error), during: "a write-ahead log write")
        }
        for write in batch {
            memtable.insert(key: write.key, timestamp: timestamp, value: write.value)
            statistics.userBytesWritten += write.key.count + (write.value?.count ?? 0)
        }
        lastTimestamp = timestamp
    }

    /// Makes every applied batch durable as the sync mode promises — synced to the
    /// device with `.everyCommit` (one sync for all of them: group commit), handed to
    /// the operating system with `.onFlush`.
    public func sync() throws(StorageError) {
        try sync(toDevice: options.syncMode == .everyCommit)
    }

    /// Syncs the log to the device whatever the mode (a checkpoint).
    public func syncToDevice() throws(StorageError) {
        try sync(toDevice: true)
    }

    private func sync(toDevice: Bool) throws(StorageError) {
        if let failure { throw .needsRecovery(failure) }
        do {
            try wal.write(sync: toDevice)
        } catch {
            throw fail(.disk(error), during: "a write-ahead log sync")
        }
        durableTimestamp = lastTimestamp
        statistics.walBytesWritten = wal.bytesWritten
        if memtable.bytesReserved >= options.memtableBytesMax {
            // What was synced stays synced; a failed flush shows at the next call.
            do {
                try flush()
            } catch {
                if error.isCrash { throw error }
            }
        }
    }

    /// Records a failure that leaves durability unknown; returns the error to throw.
    private func fail(_ error: StorageError, during what: String) -> StorageError {
        if case .disk(.crashed) = error { return error }
        if failure == nil { failure = "\(what) failed: \(error)" }
        return error
    }

    /// Later writes to the same key win; order otherwise kept.
    static func distinct(_ writes: [KeyWrite]) -> [KeyWrite] {
        guard writes.count > 1 else { return writes }
        // Strictly ascending keys (what transactions hand over) are distinct already.
        if zip(writes, writes.dropFirst()).allSatisfy({ compareBytes($0.key, $1.key) < 0 }) { return writes }
        var seen = Set<[UInt8]>()
        var result: [KeyWrite] = []
        result.reserveCapacity(writes.count)
        for write in writes.reversed() where seen.insert(write.key).inserted { result.append(write) }
        if result.count == writes.count { return writes }
        return result.reversed()
    }

    // MARK: flush

    /// Writes the memtable to a level-0 table and installs it, then compacts as needed.
    public func flush() throws(StorageError) {
        if let failure { throw .needsRecovery(failure) }
        guard !memtable.isEmpty else { return }
        var written: [TableMeta] = []
        var flushedBytes = 0
        do {
            try StorageError.wrapDisk { () throws(DiskError) in try wal.rotate() }
            durableTimestamp = lastTimestamp
            let covered = wal.lastFrame
            let cursor = memtable.makeCursor()
            written = try writeTables(from: cursor, splitting: false, dropTombstones: false)
            try StorageError.wrapDisk { () throws(DiskError) in try disk.syncDirectory() }
            var next = manifest
            let level = flushLevel(for: written)
            if level == 0 {
                next.levels[0].insert(contentsOf: written, at: 0)
            } else {
                next.levels[level].append(contentsOf: written)
                next.levels[level].sort { compareBytes($0.smallestKey, $1.smallestKey) < 0 }
                statistics.flushesBelowLevel0 += 1
            }
            next.walFramesCovered = covered
            next.tablesTimestampMax = max(next.tablesTimestampMax, memtable.timestampMax)
            next.nextFileNumber = nextFileNumber
            try writeManifest(next)
            manifest = next
            flushedBytes = written.reduce(0) { $0 + $1.fileBytes }
            written = []
            memtable = Memtable(arenaChunkBytes: options.memtableArenaChunkBytes, seed: nextMemtableSeed())
            try StorageError.wrapDisk { () throws(DiskError) in try wal.dropSegments(through: covered) }
        } catch {
            for table in written { removeFile(table.name) }
            throw fail(passUp(error), during: "a flush")
        }
        statistics.flushes += 1
        statistics.walBytesWritten = wal.bytesWritten
        statistics.flushBytesWritten += flushedBytes
        try compactIfNeeded()
    }

    /// The deepest level a flush may place its table in.
    static let flushLevelMax = 2

    /// Where a flushed table goes. Level 0, unless its keys overlap nothing in level 0:
    /// then as deep as level `flushLevelMax` while they overlap nothing down to that
    /// level, and the level below it holds at most ten tables' worth of overlapping
    /// bytes (so compacting it later stays cheap). A sequential load then lands in
    /// the sorted levels directly instead of being rewritten by a compaction that only
    /// moves it. Every version of a key in a shallower level stays newer than those
    /// below, because the table only passes levels that hold none of its keys.
    private func flushLevel(for tables: [TableMeta]) -> Int {
        guard !tables.isEmpty else { return 0 }
        let (low, high) = LSMTree.range(tables)
        let levels = manifest.levels
        guard !levels[0].contains(where: { $0.overlaps(low, high) }) else { return 0 }
        var level = 0
        while level < LSMTree.flushLevelMax, level + 1 < levels.count {
            if levels[level + 1].contains(where: { $0.overlaps(low, high) }) { break }
            if level + 2 < levels.count {
                let below = levels[level + 2].reduce(0) { $0 + ($1.overlaps(low, high) ? $1.fileBytes : 0) }
                if below > 10 * options.tableBytesTarget { break }
            }
            level += 1
        }
        return level
    }

    private func nextMemtableSeed() -> UInt64 {
        memtableSeed = memtableSeed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return memtableSeed
    }

    private func writeManifest(_ next: Manifest) throws(StorageError) {
        try StorageError.wrapDisk { () throws(DiskError) in
            try TwinFile.replace(next.encode(), magic: Manifest.magic, disk: disk, name: Manifest.fileName,
                                 renameBeforeSync: options.mutations.contains(.storageManifestRenameBeforeSync))
        }
    }

    /// Best-effort removal while another error is on its way up (a leftover is
    /// removed at the next open anyway). A crash meanwhile is remembered, so that the
    /// error passed up becomes the crash (`passUp`).
    private func removeFile(_ name: String) {
        guard disk.exists(name) else { return }
        do {
            try disk.remove(name)
        } catch {
            if error == .crashed { crashedDuringCleanup = true }
        }
    }

    /// The error to pass up after cleaning up: the crash, if one happened meanwhile.
    private func passUp(_ error: StorageError) -> StorageError {
        crashedDuringCleanup ? .disk(.crashed) : error
    }

    /// Removal on the normal path: only a crash is passed on; a file that cannot be
    /// removed now is a stray the next open removes.
    private func removeObsolete(_ name: String) throws(StorageError) {
        guard disk.exists(name) else { return }
        do {
            try disk.remove(name)
        } catch {
            if error == .crashed { throw .disk(.crashed) }
        }
    }

    /// Writes what `cursor` yields into new tables (one, or several split at
    /// `tableBytesTarget` on key boundaries), dropping versions below the low-water
    /// mark that no reader can see. Returns them in key order; on failure removes any.
    private func writeTables(from cursor: any VersionCursor, splitting: Bool, dropTombstones: Bool) throws(StorageError) -> [TableMeta] {
        var outputs: [TableMeta] = []
        var writer: TableWriter?
        do {
            try cursor.seekToFirst()
            var previousKey: [UInt8]? = nil
            var keptAtLowWater = false
            while cursor.isValid {
                let key = cursor.key
                let timestamp = cursor.timestamp
                if key != previousKey {
                    keptAtLowWater = false
                    if splitting, let current = writer, current.estimatedBytes >= options.tableBytesTarget {
                        outputs.append(try StorageError.wrapDisk { () throws(DiskError) in try current.finish() })
                        writer = nil
                    }
                    previousKey = key
                }
                let value = cursor.value
                var keep = true
                if timestamp <= lowWater {
                    if keptAtLowWater {
                        keep = false
                    } else {
                        keptAtLowWater = true
                        if value == nil && dropTombstones { keep = false }
                    }
                }
                if keep {
                    if writer == nil {
                        writer = TableWriter(disk: disk, fileNumber: nextFileNumber, options: options, context: codecContext)
                        nextFileNumber += 1
                    }
                    try StorageError.wrapDisk { () throws(DiskError) in try writer!.add(key: key, timestamp: timestamp, value: value) }
                } else {
                    statistics.versionsDropped += 1
                }
                try cursor.next()
            }
            if let current = writer {
                outputs.append(try StorageError.wrapDisk { () throws(DiskError) in try current.finish() })
                writer = nil
            }
        } catch {
            if let writer, !writer.abandon() { crashedDuringCleanup = true }
            for table in outputs { removeFile(table.name) }
            throw passUp(error)
        }
        return outputs
    }

    // MARK: compaction

    /// A compaction's inputs as sorted runs, newest first (a level-0 table is a run of
    /// its own; a deeper level's chosen tables one run), merged into `outputLevel`.
    private struct Compaction {
        var runs: [[TableMeta]]
        var outputLevel: Int

        var tables: [TableMeta] { runs.flatMap { $0 } }
    }

    private func levelBytes(_ level: Int) -> Int {
        manifest.levels[level].reduce(0) { $0 + $1.fileBytes }
    }

    private func levelTarget(_ level: Int) -> Int {
        var target = options.level1BytesTarget
        if level > 1 { for _ in 2...level { target = target.multipliedReportingOverflow(by: options.levelSizeMultiplier).partialValue } }
        return target
    }

    private static func range(_ tables: [TableMeta]) -> (low: [UInt8], high: [UInt8]) {
        var low = tables[0].smallestKey
        var high = tables[0].largestKey
        for table in tables.dropFirst() {
            if compareBytes(table.smallestKey, low) < 0 { low = table.smallestKey }
            if compareBytes(table.largestKey, high) > 0 { high = table.largestKey }
        }
        return (low, high)
    }

    private func pickCompaction() -> Compaction? {
        let levels = manifest.levels
        if levels[0].count >= options.level0CompactionTrigger, levels.count > 1 {
            let (low, high) = LSMTree.range(levels[0])
            return Compaction(runs: levels[0].map { [$0] } + [levels[1].filter { $0.overlaps(low, high) }], outputLevel: 1)
        }
        for level in 1..<(levels.count - 1) where levelBytes(level) > levelTarget(level) {
            let tables = levels[level]
            // Round robin through the key space, so every part of the level gets its turn.
            let start = compactionPointers[level].flatMap { pointer in
                tables.firstIndex { compareBytes($0.smallestKey, pointer) > 0 }
            } ?? 0
            let input = tables[start]
            compactionPointers[level] = input.largestKey
            return Compaction(runs: [[input], levels[level + 1].filter { $0.overlaps(input.smallestKey, input.largestKey) }],
                              outputLevel: level + 1)
        }
        return nil
    }

    private func compactIfNeeded() throws(StorageError) {
        while compactionHalt == nil, failure == nil, let job = pickCompaction() {
            do {
                try compact(job)
            } catch {
                switch error {
                case .disk(.crashed): throw error
                case .corruption: compactionHalt = error
                default: throw fail(error, during: "a compaction")
                }
            }
        }
    }

    /// Flushes the memtable and merges every table into the deepest level: all
    /// garbage below the low-water mark goes, tombstones included.
    public func compactAll() throws(StorageError) {
        try flush()
        if let failure { throw .needsRecovery(failure) }
        if let compactionHalt { throw compactionHalt }
        let levels = manifest.levels
        var runs = levels[0].map { [$0] }
        for level in levels.dropFirst() where !level.isEmpty { runs.append(level) }
        guard runs.count > 0 else { return }
        do {
            try compact(Compaction(runs: runs, outputLevel: levels.count - 1))
        } catch {
            if case .corruption = error { compactionHalt = error; throw error }
            throw fail(error, during: "a compaction")
        }
    }

    private func compact(_ job: Compaction) throws(StorageError) {
        let output = job.outputLevel
        let open: (TableMeta) throws(StorageError) -> TableReader = { [unowned self] (table) throws(StorageError) in
            try self.reader(table)
        }
        let children: [any VersionCursor] = job.runs.filter { !$0.isEmpty }.map { LevelCursor(tables: $0, open: open) }
        let inputs = job.tables
        let (low, high) = LSMTree.range(inputs)
        let bottom = manifest.levels.indices.allSatisfy { level in
            level <= output || !manifest.levels[level].contains { $0.overlaps(low, high) }
        }
        let outputs = try writeTables(from: MergingCursor(children), splitting: true, dropTombstones: bottom)
        let removed = Set(inputs.map(\.fileNumber))
        do {
            try StorageError.wrapDisk { () throws(DiskError) in try disk.syncDirectory() }
            var next = manifest
            for level in next.levels.indices { next.levels[level].removeAll { removed.contains($0.fileNumber) } }
            next.levels[output].append(contentsOf: outputs)
            next.levels[output].sort { compareBytes($0.smallestKey, $1.smallestKey) < 0 }
            next.nextFileNumber = nextFileNumber
            try writeManifest(next)
            manifest = next
        } catch {
            for table in outputs { removeFile(table.name) }
            throw passUp(error)
        }
        for table in inputs {
            readers[table.fileNumber] = nil
            if lastReader?.meta.fileNumber == table.fileNumber { lastReader = nil }
            cache.removeAll(file: table.fileNumber)
            try removeObsolete(table.name)
            statistics.compactionBytesRead += table.fileBytes
        }
        statistics.compactions += 1
        statistics.compactionBytesWritten += outputs.reduce(0) { $0 + $1.fileBytes }
    }

    // MARK: reading

    func reader(_ table: TableMeta) throws(StorageError) -> TableReader {
        // Point reads of a sequential load ask for the same table again and again.
        if let last = lastReader, last.meta.fileNumber == table.fileNumber { return last }
        if let open = readers[table.fileNumber] {
            lastReader = open
            return open
        }
        let opened = try TableReader.open(disk: disk, meta: table, cache: cache,
                                          verifyChecksums: !options.mutations.contains(.storageIgnoreBlockChecksum))
        opened.context = codecContext
        readers[table.fileNumber] = opened
        lastReader = opened
        return opened
    }

    /// The newest version of `key` at or below `timestamp` (a tombstone has a nil value),
    /// or nil when it has none.
    public func get(_ key: [UInt8], at timestamp: Timestamp) throws(StorageError) -> Version? {
        if let version = memtable.get(key, at: timestamp) { return version }
        // Hashed for the Bloom filters only once some table's range holds the key.
        lazy var hash = BloomFilter.hash(key)
        let levels = manifest.levels
        for table in levels[0] where compareBytes(key, table.smallestKey) >= 0 && compareBytes(key, table.largestKey) <= 0 {
            if let version = try reader(table).get(key, hash: hash, at: timestamp) { return version }
        }
        for level in 1..<levels.count {
            let tables = levels[level]
            var low = 0
            var high = tables.count
            while low < high {
                let middle = (low + high) / 2
                if compareBytes(tables[middle].largestKey, key) < 0 { low = middle + 1 } else { high = middle }
            }
            guard low < tables.count, compareBytes(tables[low].smallestKey, key) <= 0 else { continue }
            if let version = try reader(tables[low]).get(key, hash: hash, at: timestamp) { return version }
        }
        return nil
    }

    /// A cursor over every version in the tree (memtable and tables), merged; given a
    /// key range [start, end), only the tables whose keys reach into it, so a short
    /// range read does not open and position tables it cannot use.
    func makeCursor(from start: [UInt8]? = nil, to end: [UInt8]? = nil) -> MergingCursor {
        var children: [any VersionCursor] = [memtable.makeCursor()]
        let open: (TableMeta) throws(StorageError) -> TableReader = { [unowned self] (table) throws(StorageError) in try self.reader(table) }
        func overlaps(_ table: TableMeta) -> Bool {
            (start.map { compareBytes(table.largestKey, $0) >= 0 } ?? true) && (end.map { compareBytes(table.smallestKey, $0) < 0 } ?? true)
        }
        for table in manifest.levels[0] where overlaps(table) { children.append(LevelCursor(tables: [table], open: open)) }
        for level in manifest.levels.dropFirst() where !level.isEmpty {
            // Deeper levels are sorted and do not overlap: the reaching tables are one
            // run, found by bisection.
            var first = 0
            if let start {
                var high = level.count
                while first < high {
                    let middle = (first + high) / 2
                    if compareBytes(level[middle].largestKey, start) < 0 { first = middle + 1 } else { high = middle }
                }
            }
            var last = level.count
            if let end {
                var low = first
                while low < last {
                    let middle = (low + last) / 2
                    if compareBytes(level[middle].smallestKey, end) < 0 { low = middle + 1 } else { last = middle }
                }
            }
            if first < last { children.append(LevelCursor(tables: Array(level[first..<last]), open: open)) }
        }
        return MergingCursor(children)
    }

    /// Keys from `start` (inclusive) to `end` (exclusive; nil for no end) as seen at
    /// `timestamp`, at most `limit` of them, in order.
    public func scan(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int = .max) throws(StorageError) -> [(key: [UInt8], value: [UInt8])] {
        try scanChunk(from: start, to: end, at: timestamp, limit: limit).rows
    }

    /// The same rows packed into one chunk.
    public func scanChunk(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int = .max) throws(StorageError) -> ScanChunk {
        var run = VisibleRun(snapshot: timestamp, end: end, limit: limit)
        let cursor = makeCursor(from: start, to: end)
        try cursor.seek(start, timestamp: timestamp)
        try cursor.readVisible(&run)
        return run.chunk
    }

    // MARK: shape

    /// Tables and bytes per level, for reports.
    public var levelShape: [(tables: Int, bytes: Int)] {
        manifest.levels.map { ($0.count, $0.reduce(0) { $0 + $1.fileBytes }) }
    }

    public var memtableBytes: Int { memtable.bytesReserved }

    /// Uncompressed and stored bytes of every table's data blocks.
    public var dataBytes: (raw: Int, stored: Int) {
        var raw = 0
        var stored = 0
        for level in manifest.levels { for table in level { raw += table.rawDataBytes; stored += table.storedDataBytes } }
        return (raw, stored)
    }

    /// Closes every table file. The tree is unusable afterwards.
    public func close() {
        readers.removeAll()
        lastReader = nil
        failure = "the store was closed"
    }

    // MARK: the commit record

    static func encodeCommit(timestamp: Timestamp, writes: [KeyWrite]) -> [UInt8] {
        var writer = ByteWriter(capacity: commitBytes(writes))
        encodeCommit(timestamp: timestamp, writes: writes, into: &writer)
        return writer.bytes
    }

    /// The size of a commit record's body: timestamp, count, then per write its
    /// length-prefixed key, a kind byte and, for a value, the length-prefixed value.
    static func commitBytes(_ writes: [KeyWrite]) -> Int {
        var size = 12
        for write in writes { size += 5 + write.key.count + (write.value.map { 4 + $0.count } ?? 0) }
        return size
    }

    static func encodeCommit(timestamp: Timestamp, writes: [KeyWrite], into writer: inout ByteWriter) {
        writer.write(timestamp)
        writer.write(UInt32(writes.count))
        for write in writes {
            writer.write(lengthPrefixed: write.key)
            if let value = write.value {
                writer.write(UInt8(1))
                writer.write(lengthPrefixed: value)
            } else {
                writer.write(UInt8(0))
            }
        }
    }

    static func decodeCommit(_ body: [UInt8]) -> (Timestamp, [KeyWrite])? {
        var reader = ByteReader(body)
        guard let timestamp = try? reader.readUInt64(), let count = try? reader.readUInt32() else { return nil }
        var writes: [KeyWrite] = []
        for _ in 0..<count {
            guard let key = try? reader.readLengthPrefixed(maximumCount: body.count),
                  let kind = try? reader.readUInt8() else { return nil }
            switch kind {
            case 0: writes.append(KeyWrite(key: key, value: nil))
            case 1:
                guard let value = try? reader.readLengthPrefixed(maximumCount: body.count) else { return nil }
                writes.append(KeyWrite(key: key, value: value))
            default: return nil
            }
        }
        return reader.isAtEnd ? (timestamp, writes) : nil
    }
}
