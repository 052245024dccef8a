import Aegis

/// The probe server's durable log: one file of fixed-size records
/// `[payload length u32 = 16][crc32c of payload u32][id u64][value u64]`.
///
/// Recovery reads the records in order. A bad last record (short, or failing its
/// checksum) is a torn tail, a write cut short by a crash: the log is cut there. A bad
/// record with more records after it is corruption (a bit flip, a misdirected write):
/// it is skipped, never served, and the next record boundary is read on; records are
/// fixed-size, so one damaged record costs only itself. What was cut or skipped is
/// re-learned from peers by anti-entropy. The two cases are reported apart.
struct ProbeLog {
    static let fileName = "probe.log"
    static let payloadLength = 16
    static let recordLength = 8 + payloadLength

    struct RecoveryNote: Equatable, CustomStringConvertible {
        var records = 0
        var corruptRecords = 0
        var firstCorruptOffset: Int?
        var tornTailBytes = 0

        var description: String {
            var text = "log records=\(records)"
            if let firstCorruptOffset {
                text += " corrupt-skipped=\(corruptRecords) first-at=\(firstCorruptOffset)"
            }
            if tornTailBytes > 0 {
                text += " torn-tail-cut=\(tornTailBytes)"
            }
            return firstCorruptOffset == nil && tornTailBytes == 0 ? text + " clean" : text
        }
    }

    private let disk: any Disk
    private let file: DiskFile
    private(set) var endOffset: Int
    let skipChecksum: Bool

    /// Opens the log (creating it durably if absent) and recovers its items.
    static func open(disk: any Disk, skipChecksum: Bool) throws(DiskError) -> (ProbeLog, [ProbeItem], RecoveryNote) {
        let file: DiskFile
        if disk.exists(fileName) {
            file = try disk.open(fileName)
        } else {
            file = try disk.create(fileName)
            try disk.sync(file)
            try disk.syncDirectory()
        }
        let size = try disk.size(file)
        let bytes = size > 0 ? try disk.read(file, offset: 0, count: size) : []
        var items: [ProbeItem] = []
        var offset = 0
        var note = RecoveryNote()
        while offset < bytes.count {
            if let item = decodeRecord(bytes, at: offset, skipChecksum: skipChecksum) {
                items.append(item)
            } else if bytes.count - offset <= recordLength {
                note.tornTailBytes = bytes.count - offset
                break
            } else {
                note.corruptRecords += 1
                note.firstCorruptOffset = note.firstCorruptOffset ?? offset
            }
            offset += recordLength
        }
        note.records = items.count
        if note.tornTailBytes > 0 {
            try disk.truncate(file, size: offset)
            try disk.sync(file)
        }
        return (ProbeLog(disk: disk, file: file, endOffset: offset, skipChecksum: skipChecksum), items, note)
    }

    private init(disk: any Disk, file: DiskFile, endOffset: Int, skipChecksum: Bool) {
        self.disk = disk
        self.file = file
        self.endOffset = endOffset
        self.skipChecksum = skipChecksum
    }

    static func encodeRecord(_ item: ProbeItem) -> [UInt8] {
        var payload = ByteWriter(capacity: payloadLength)
        payload.write(item.id)
        payload.write(item.value)
        var record = ByteWriter(capacity: recordLength)
        record.write(UInt32(payloadLength))
        record.write(CRC32C.checksum(payload.bytes))
        record.write(raw: payload.bytes)
        precondition(record.bytes.count == recordLength, "record length drifted from the format")
        return record.bytes
    }

    static func decodeRecord(_ bytes: [UInt8], at offset: Int, skipChecksum: Bool) -> ProbeItem? {
        guard bytes.count - offset >= recordLength else { return nil }
        var reader = ByteReader(bytes, offset: offset)
        do {
            let length = try reader.readUInt32()
            let checksum = try reader.readUInt32()
            guard length == UInt32(payloadLength) else { return nil }
            let payload = try reader.readRaw(count: payloadLength)
            guard skipChecksum || CRC32C.checksum(payload) == checksum else { return nil }
            var payloadReader = ByteReader(payload)
            return ProbeItem(id: try payloadReader.readUInt64(), value: try payloadReader.readUInt64())
        } catch {
            return nil
        }
    }

    /// Appends the items in one write; durable only after `sync()`.
    mutating func append(_ items: [ProbeItem]) throws(DiskError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(items.count * ProbeLog.recordLength)
        for item in items { bytes += ProbeLog.encodeRecord(item) }
        try disk.write(file, offset: endOffset, bytes: bytes)
        endOffset += bytes.count
    }

    func sync() throws(DiskError) {
        try disk.sync(file)
    }
}
