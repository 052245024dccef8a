/// The tree's table of contents: which tables make up each level, how far the
/// write-ahead log is covered by them, and the next file number. Stored in `MANIFEST`
/// as a `TwinFile` and switched atomically (write `MANIFEST.tmp`, sync, rename, sync
/// the directory), so after any crash it names either the old set of tables or the new
/// one, and every table it names was synced before it was.
///
///     version u32, next file number u64, WAL frames covered u64, newest timestamp in
///     tables u64, level count u32, then per level: table count u32, then per table:
///     file number u64, file bytes u64, entries u64, smallest key (u32 length, bytes),
///     smallest timestamp u64, largest key, largest timestamp u64, newest timestamp
///     u64, raw data bytes u64, stored data bytes u64
struct Manifest: Equatable {
    static let fileName = "MANIFEST"
    static let magic: UInt32 = 0x4D47_4541  // "AEGM"
    static let version: UInt32 = 1

    var nextFileNumber: UInt64 = 1
    /// Write-ahead log frames up to this one are all in tables.
    var walFramesCovered: UInt64 = 0
    /// The newest commit timestamp held in tables.
    var tablesTimestampMax: Timestamp = 0
    /// Level 0 newest table first (tables may overlap); deeper levels sorted by key,
    /// never overlapping.
    var levels: [[TableMeta]]

    init(levelCount: Int) {
        levels = Array(repeating: [], count: levelCount)
    }

    var tableCount: Int { levels.reduce(0) { $0 + $1.count } }

    func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        writer.write(Manifest.version)
        writer.write(nextFileNumber)
        writer.write(walFramesCovered)
        writer.write(tablesTimestampMax)
        writer.write(UInt32(levels.count))
        for level in levels {
            writer.write(UInt32(level.count))
            for table in level {
                writer.write(table.fileNumber)
                writer.write(UInt64(table.fileBytes))
                writer.write(UInt64(table.entryCount))
                writer.write(lengthPrefixed: table.smallestKey)
                writer.write(table.smallestTimestamp)
                writer.write(lengthPrefixed: table.largestKey)
                writer.write(table.largestTimestamp)
                writer.write(table.timestampMax)
                writer.write(UInt64(table.rawDataBytes))
                writer.write(UInt64(table.storedDataBytes))
            }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Manifest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt32() == version else { throw .invalid("unknown manifest version") }
        let next = try reader.readUInt64()
        let covered = try reader.readUInt64()
        let timestampMax = try reader.readUInt64()
        let levelCount = Int(try reader.readUInt32())
        guard levelCount >= 1, levelCount <= 16 else { throw .invalid("\(levelCount) levels") }
        var manifest = Manifest(levelCount: levelCount)
        manifest.nextFileNumber = next
        manifest.walFramesCovered = covered
        manifest.tablesTimestampMax = timestampMax
        for level in 0..<levelCount {
            let count = Int(try reader.readUInt32())
            guard count <= 1_000_000 else { throw .invalid("\(count) tables in a level") }
            for _ in 0..<count {
                let number = try reader.readUInt64()
                let fileBytes = try reader.readUInt64()
                let entries = try reader.readUInt64()
                let smallest = try reader.readLengthPrefixed(maximumCount: 1 << 20)
                let smallestTimestamp = try reader.readUInt64()
                let largest = try reader.readLengthPrefixed(maximumCount: 1 << 20)
                let largestTimestamp = try reader.readUInt64()
                let newest = try reader.readUInt64()
                let raw = try reader.readUInt64()
                let stored = try reader.readUInt64()
                guard fileBytes < 1 << 40, entries < 1 << 40, raw < 1 << 40, stored < 1 << 40, number < next else {
                    throw .invalid("a table entry is out of range")
                }
                manifest.levels[level].append(TableMeta(
                    fileNumber: number, fileBytes: Int(fileBytes), entryCount: Int(entries),
                    smallestKey: smallest, smallestTimestamp: smallestTimestamp,
                    largestKey: largest, largestTimestamp: largestTimestamp, timestampMax: newest,
                    rawDataBytes: Int(raw), storedDataBytes: Int(stored)))
            }
        }
        guard reader.isAtEnd else { throw .invalid("bytes after the last level") }
        return manifest
    }
}
