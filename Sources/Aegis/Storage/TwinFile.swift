/// A small file written whole, twice, so that one damaged sector never costs it:
/// manifests and snapshots. Each copy, padded to a sector boundary:
///
///     magic u32 (the caller's), version u8 = 1, copy u8 (1 or 2),
///     payload length u64, payload CRC32C u32, header CRC32C u32 (over what precedes)
///     payload
///
/// Both copies have the same size, so the second starts where the first ends; a reader
/// that cannot read the first copy's header finds the second by probing each sector
/// boundary for a header of copy 2 whose size puts it exactly there. A file with no
/// readable copy is damaged.
///
/// Replacing one is atomic: write `NAME.tmp`, sync it, rename it over `NAME`, sync the
/// directory (`replace`).
public enum TwinFile {
    static let version: UInt8 = 1
    static let headerSize = 4 + 1 + 1 + 8 + 4 + 4
    /// The largest payload this format holds.
    public static let payloadMax = 1 << 30

    static func encodeCopy(_ payload: [UInt8], magic: UInt32, copy: UInt8, sectorSize: Int) -> [UInt8] {
        var writer = ByteWriter(capacity: headerSize + payload.count + sectorSize)
        writer.write(magic)
        writer.write(version)
        writer.write(copy)
        writer.write(UInt64(payload.count))
        writer.write(CRC32C.checksum(payload))
        writer.write(CRC32C.checksum(writer.bytes))
        writer.write(raw: payload)
        let padded = (writer.bytes.count + sectorSize - 1) / sectorSize * sectorSize
        writer.write(raw: [UInt8](repeating: 0, count: padded - writer.bytes.count))
        return writer.bytes
    }

    /// The copy at `offset` when whole: its payload, copy number and padded size.
    static func decodeCopy(_ bytes: [UInt8], at offset: Int, magic: UInt32, sectorSize: Int) -> ([UInt8], copy: UInt8, size: Int)? {
        var reader = ByteReader(bytes, offset: offset)
        guard (try? reader.readUInt32()) == magic, (try? reader.readUInt8()) == version,
              let copy = try? reader.readUInt8(), copy == 1 || copy == 2,
              let length = try? reader.readUInt64(), length <= UInt64(payloadMax),
              let payloadChecksum = try? reader.readUInt32()
        else { return nil }
        let headerEnd = reader.offset
        guard let headerChecksum = try? reader.readUInt32(),
              CRC32C.checksum(bytes[offset..<headerEnd]) == headerChecksum,
              let payload = try? reader.readRaw(count: Int(length)),
              CRC32C.checksum(payload) == payloadChecksum
        else { return nil }
        let size = (reader.offset - offset + sectorSize - 1) / sectorSize * sectorSize
        return (payload, copy, size)
    }

    /// The payload from whichever copy is whole, and whether the other one was not.
    public static func decode(_ bytes: [UInt8], magic: UInt32, sectorSize: Int) -> (payload: [UInt8], damagedCopy: Bool)? {
        if let (payload, _, size) = decodeCopy(bytes, at: 0, magic: magic, sectorSize: sectorSize) {
            let twinWhole = decodeCopy(bytes, at: size, magic: magic, sectorSize: sectorSize)?.copy == 2
            return (payload, !twinWhole)
        }
        var probe = sectorSize
        while probe < bytes.count {
            if let (payload, copy, size) = decodeCopy(bytes, at: probe, magic: magic, sectorSize: sectorSize), copy == 2,
               probe == size {
                return (payload, true)
            }
            probe += sectorSize
        }
        return nil
    }

    /// Writes `payload` twice into a new file `name` (replacing any), synced if asked.
    public static func write(_ payload: [UInt8], magic: UInt32, disk: any Disk, name: String, sync: Bool) throws(DiskError) {
        if disk.exists(name) { try disk.remove(name) }
        let file = try disk.create(name)
        defer { disk.close(file) }
        let first = encodeCopy(payload, magic: magic, copy: 1, sectorSize: disk.sectorSize)
        try disk.write(file, offset: 0, bytes: first)
        try disk.write(file, offset: first.count, bytes: encodeCopy(payload, magic: magic, copy: 2, sectorSize: disk.sectorSize))
        if sync { try disk.sync(file) }
    }

    /// The payload in `name`, or nil when no copy is whole. A damaged copy is rewritten
    /// from the whole one (`repaired`).
    public static func read(magic: UInt32, disk: any Disk, name: String) throws(DiskError) -> (payload: [UInt8], repaired: Bool)? {
        let file = try disk.open(name)
        defer { disk.close(file) }
        let size = try disk.size(file)
        guard let (payload, damagedCopy) = decode(try disk.read(file, offset: 0, count: size), magic: magic,
            sectorSize: disk.sectorSize) else { return nil }
        if damagedCopy {
            let first = encodeCopy(payload, magic: magic, copy: 1, sectorSize: disk.sectorSize)
            try disk.write(file, offset: 0, bytes: first)
            try disk.write(file, offset: first.count, bytes: encodeCopy(payload, magic: magic, copy: 2, sectorSize: disk.sectorSize))
            try disk.sync(file)
        }
        return (payload, damagedCopy)
    }

    /// Atomically replaces `name` with `payload`: a temporary file, synced, renamed over,
    /// then the directory synced. `renameBeforeSync` is a planted bug.
    public static func replace(_ payload: [UInt8], magic: UInt32, disk: any Disk, name: String,
                               renameBeforeSync: Bool = false) throws(DiskError) {
        let temporary = name + ".tmp"
        try write(payload, magic: magic, disk: disk, name: temporary, sync: !renameBeforeSync)
        try disk.rename(temporary, to: name)
        try disk.syncDirectory()
        if renameBeforeSync {
            let file = try disk.open(name)
            try disk.sync(file)
            disk.close(file)
        }
    }
}
