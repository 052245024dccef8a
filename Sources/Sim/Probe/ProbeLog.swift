import Aegis

/// The probe server's durable log: one file of fixed-size records
/// `[payload length u32 = 16][crc32c of payload u32][id u64][value u64]`.
///
/// Recovery reads records in order and stops at the first bad one. A bad record that
/// runs to the end of the file is a torn tail (a write cut short by a crash); a bad
/// record followed by more data is corruption in the middle. Either way the log is cut
/// there, and what followed is re-learned from peers by anti-entropy; the two cases are
/// reported differently.
struct ProbeLog {
    static let fileName = "probe.log"
    static let payloadLength = 16
    static let recordLength = 8 + payloadLength

    enum RecoveryNote: Equatable {
        case clean(records: Int)
        case tornTail(records: Int, offset: Int, discardedBytes: Int)
        case corruption(records: Int, offset: Int, discardedBytes: Int)
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
        var note = RecoveryNote.clean(records: 0)
        while offset < bytes.count {
            if let item = decodeRecord(bytes, at: offset, skipChecksum: skipChecksum) {
                items.append(item)
                offset += recordLength
                continue
            }
            let discarded = bytes.count - offset
            note = discarded <= recordLength
                ? .tornTail(records: items.count, offset: offset, discardedBytes: discarded)
                : .corruption(records: items.count, offset: offset, discardedBytes: discarded)
            break
        }
        if case .clean = note {
            note = .clean(records: items.count)
        } else {
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
