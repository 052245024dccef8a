/// A snapshot on disk, written twice in one file so that one damaged sector never costs
/// the whole image. Each copy, padded to a sector boundary:
///
///     magic "AEGS" u32, version u8, copy u8 (1 or 2), metadata (index, term,
///     configuration), data length u64, data CRC32C u32,
///     header CRC32C u32 (over everything before it)
///     data
///
/// Both copies have the same size, so the second starts where the first ends; a
/// reader that cannot read the first copy's header finds the second by probing each
/// sector boundary for a header of copy 2 whose size puts it exactly there. A file
/// with no readable copy is damaged: `read` returns nil and the log store treats it
/// as corruption.
public enum RaftSnapshotFile {
    static let magic: UInt32 = 0x5347_4541  // "AEGS" little-endian
    static let version: UInt8 = 2
    /// The largest snapshot this format holds.
    public static let dataMax = 1 << 30

    static func encodeCopy(_ snapshot: Snapshot, copy: UInt8, sectorSize: Int) -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + snapshot.data.count + sectorSize)
        writer.write(magic)
        writer.write(version)
        writer.write(copy)
        snapshot.metadata.encode(into: &writer)
        writer.write(UInt64(snapshot.data.count))
        writer.write(CRC32C.checksum(snapshot.data))
        writer.write(CRC32C.checksum(writer.bytes))
        writer.write(raw: snapshot.data)
        let padded = (writer.bytes.count + sectorSize - 1) / sectorSize * sectorSize
        writer.write(raw: [UInt8](repeating: 0, count: padded - writer.bytes.count))
        return writer.bytes
    }

    /// Both copies, back to back.
    public static func encode(_ snapshot: Snapshot, sectorSize: Int) -> [UInt8] {
        encodeCopy(snapshot, copy: 1, sectorSize: sectorSize) + encodeCopy(snapshot, copy: 2, sectorSize: sectorSize)
    }

    /// The copy at `offset` when whole: the snapshot, its copy number and padded size.
    static func decodeCopy(_ bytes: [UInt8], at offset: Int, sectorSize: Int) -> (Snapshot, copy: UInt8, size: Int)? {
        var reader = ByteReader(bytes, offset: offset)
        guard (try? reader.readUInt32()) == magic, (try? reader.readUInt8()) == version,
              let copy = try? reader.readUInt8(), copy == 1 || copy == 2,
              let metadata = try? SnapshotMetadata.decode(from: &reader),
              let length = try? reader.readUInt64(), length <= UInt64(dataMax),
              let dataChecksum = try? reader.readUInt32()
        else { return nil }
        let headerEnd = reader.offset
        guard let headerChecksum = try? reader.readUInt32(),
              CRC32C.checksum(bytes[offset..<headerEnd]) == headerChecksum,
              let data = try? reader.readRaw(count: Int(length)),
              CRC32C.checksum(data) == dataChecksum
        else { return nil }
        let size = (reader.offset - offset + sectorSize - 1) / sectorSize * sectorSize
        return (Snapshot(metadata: metadata, data: data), copy, size)
    }

    /// The snapshot from whichever copy is whole, and whether the other one was not.
    public static func decode(_ bytes: [UInt8], sectorSize: Int) -> (Snapshot, damagedCopy: Bool)? {
        if let (snapshot, _, size) = decodeCopy(bytes, at: 0, sectorSize: sectorSize) {
            let twinWhole = decodeCopy(bytes, at: size, sectorSize: sectorSize)?.1 == 2
            return (snapshot, !twinWhole)
        }
        var probe = sectorSize
        while probe < bytes.count {
            if let (snapshot, copy, _) = decodeCopy(bytes, at: probe, sectorSize: sectorSize), copy == 2,
               probe == encodeCopy(snapshot, copy: 1, sectorSize: sectorSize).count {
                return (snapshot, true)
            }
            probe += sectorSize
        }
        return nil
    }

    static func write(_ snapshot: Snapshot, disk: any Disk, name: String, sync: Bool) throws(DiskError) {
        if disk.exists(name) { try disk.remove(name) }
        let file = try disk.create(name)
        defer { disk.close(file) }
        try disk.write(file, offset: 0, bytes: encodeCopy(snapshot, copy: 1, sectorSize: disk.sectorSize))
        let second = encodeCopy(snapshot, copy: 2, sectorSize: disk.sectorSize)
        try disk.write(file, offset: second.count, bytes: second)
        if sync { try disk.sync(file) }
    }

    /// The snapshot in `name`, or nil when no copy is whole. A damaged copy is
    /// rewritten from the whole one.
    static func read(disk: any Disk, name: String) throws(DiskError) -> (Snapshot, repaired: Bool)? {
        let file = try disk.open(name)
        defer { disk.close(file) }
        let size = try disk.size(file)
        guard let (snapshot, damagedCopy) = decode(try disk.read(file, offset: 0, count: size), sectorSize: disk.sectorSize) else {
            return nil
        }
        if damagedCopy {
            let first = encodeCopy(snapshot, copy: 1, sectorSize: disk.sectorSize)
            try disk.write(file, offset: 0, bytes: first)
            try disk.write(file, offset: first.count, bytes: encodeCopy(snapshot, copy: 2, sectorSize: disk.sectorSize))
            try disk.sync(file)
        }
        return (snapshot, damagedCopy)
    }
}
