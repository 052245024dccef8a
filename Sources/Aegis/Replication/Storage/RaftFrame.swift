/// One durable unit of the Raft log: the hard state, optionally the snapshot the log
/// now starts after, and a run of entries that replaces the log from its first index.
///
/// On disk a frame is written twice, each copy sector-aligned and checksummed:
///
///     header (32 bytes): magic "AEGF", copy (1 or 2), 3 reserved, sequence u64,
///                        payload length u32, payload CRC32C u32, reserved u32,
///                        header CRC32C u32 over the first 28 bytes
///     payload, zero padding to the next sector boundary
///
/// Why twice: a crash can tear the last, unsynced frame, and a bit flip can damage any
/// synced one; with a single copy the two look the same at the tail of the log, and
/// treating a damaged acknowledged frame as a torn one would silently lose an entry a
/// quorum counted on. With two copies written before one sync, a frame with a readable
/// copy is whole; a frame with no readable copy at the tail was never synced (torn);
/// a frame with no readable copy followed by readable frames was damaged after it was
/// synced (corruption). Only one frame is ever unsynced: every frame is synced before
/// the next is written.
public struct RaftFrame: Sendable, Equatable {
    public var sequence: UInt64
    public var hardState: HardState
    /// Set when the log was replaced by a snapshot: entries up to here are gone.
    public var snapshotBase: (index: LogIndex, term: Term)?
    public var entries: [LogEntry]

    public init(sequence: UInt64, hardState: HardState, snapshotBase: (index: LogIndex, term: Term)? = nil,
                entries: [LogEntry] = []) {
        self.sequence = sequence
        self.hardState = hardState
        self.snapshotBase = snapshotBase
        self.entries = entries
    }

    public static func == (lhs: RaftFrame, rhs: RaftFrame) -> Bool {
        lhs.sequence == rhs.sequence && lhs.hardState == rhs.hardState && lhs.entries == rhs.entries
            && lhs.snapshotBase?.index == rhs.snapshotBase?.index && lhs.snapshotBase?.term == rhs.snapshotBase?.term
    }

    static let magic: UInt32 = 0x4645_4741  // "AEGF" little-endian
    static let headerSize = 32
    static let payloadVersion: UInt8 = 2
    /// The largest payload a frame may carry; a larger batch is split by the writer.
    public static let payloadMax = 8 << 20

    public var payload: [UInt8] {
        var writer = ByteWriter(capacity: 64 + entries.reduce(0) { $0 + $1.encodedSize })
        writer.write(RaftFrame.payloadVersion)
        writer.write(hardState.term.rawValue)
        writer.write(hardState.vote?.rawValue ?? 0)
        writer.write(hardState.commit.rawValue)
        writer.write(hardState.repairFloor.rawValue)
        writer.write(hardState.repairFloorTerm.rawValue)
        if let base = snapshotBase {
            writer.write(UInt8(1))
            writer.write(base.index.rawValue)
            writer.write(base.term.rawValue)
        } else {
            writer.write(UInt8(0))
        }
        writer.write(UInt32(entries.count))
        for entry in entries { RaftMessage.encode(entry, into: &writer) }
        return writer.bytes
    }

    static func decodePayload(_ bytes: [UInt8], sequence: UInt64) throws(DecodeError) -> RaftFrame {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == payloadVersion else { throw .invalid("unknown frame version") }
        let term = Term(try reader.readUInt64())
        let voteRaw = try reader.readUInt32()
        let commit = LogIndex(try reader.readUInt64())
        let floor = LogIndex(try reader.readUInt64())
        let floorTerm = Term(try reader.readUInt64())
        let hardState = HardState(term: term, vote: voteRaw == 0 ? nil : NodeID(voteRaw), commit: commit,
            repairFloor: floor, repairFloorTerm: floorTerm)
        var base: (index: LogIndex, term: Term)?
        switch try reader.readUInt8() {
        case 0: base = nil
        case 1: base = (LogIndex(try reader.readUInt64()), Term(try reader.readUInt64()))
        default: throw .invalid("bad snapshot flag")
        }
        let count = Int(try reader.readUInt32())
        guard count <= payloadMax / 21 else { throw .invalid("\(count) entries in one frame") }
        var entries: [LogEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let entry = try RaftMessage.decodeEntry(from: &reader)
            if let previous = entries.last, entry.index != previous.index.next {
                throw .invalid("entries out of sequence in a frame")
            }
            entries.append(entry)
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes in a frame") }
        return RaftFrame(sequence: sequence, hardState: hardState, snapshotBase: base, entries: entries)
    }

    static func paddedSize(_ count: Int, sectorSize: Int) -> Int {
        (count + sectorSize - 1) / sectorSize * sectorSize
    }

    /// One copy, sector-padded.
    func encodedCopy(_ copy: UInt8, payload: [UInt8], sectorSize: Int, payloadChecksum: UInt32? = nil) -> [UInt8] {
        precondition(payload.count <= RaftFrame.payloadMax, "frame payload of \(payload.count) bytes is too large")
        var writer = ByteWriter(capacity: RaftFrame.paddedSize(RaftFrame.headerSize + payload.count, sectorSize: sectorSize))
        writer.write(RaftFrame.magic)
        writer.write(copy)
        writer.write(UInt8(0))
        writer.write(UInt16(0))
        writer.write(sequence)
        writer.write(UInt32(payload.count))
        writer.write(payloadChecksum ?? CRC32C.checksum(payload))
        writer.write(UInt32(0))
        writer.write(CRC32C.checksum(writer.bytes))
        writer.write(raw: payload)
        let padded = RaftFrame.paddedSize(writer.bytes.count, sectorSize: sectorSize)
        writer.write(raw: [UInt8](repeating: 0, count: padded - writer.bytes.count))
        return writer.bytes
    }

    /// Both copies: the second is the first with its copy number and header checksum
    /// changed, so the payload is encoded and checksummed once.
    func encodedCopies(sectorSize: Int) -> (first: [UInt8], second: [UInt8]) {
        let first = encodedCopy(1, payload: payload, sectorSize: sectorSize)
        var second = first
        second[4] = 2
        let checksum = CRC32C.checksum(second[0..<28])
        withUnsafeBytes(of: checksum.littleEndian) { raw in
            for index in 0..<4 { second[28 + index] = raw[index] }
        }
        return (first, second)
    }

    /// A frame header that checks out, read at `offset`.
    struct Header {
        var copy: UInt8
        var sequence: UInt64
        var payloadLength: Int
        var payloadChecksum: UInt32
    }

    static func header(in bytes: [UInt8], at offset: Int) -> Header? {
        guard offset >= 0, offset + headerSize <= bytes.count else { return nil }
        var reader = ByteReader(bytes, offset: offset)
        guard (try? reader.readUInt32()) == magic,
              let copy = try? reader.readUInt8(), copy == 1 || copy == 2,
              (try? reader.readUInt8()) != nil, (try? reader.readUInt16()) != nil,
              let sequence = try? reader.readUInt64(),
              let length = try? reader.readUInt32(),
              let payloadChecksum = try? reader.readUInt32(),
              (try? reader.readUInt32()) != nil,
              let headerChecksum = try? reader.readUInt32()
        else { return nil }
        guard CRC32C.checksum(bytes[offset..<(offset + 28)]) == headerChecksum, Int(length) <= payloadMax else {
            return nil
        }
        return Header(copy: copy, sequence: sequence, payloadLength: Int(length), payloadChecksum: payloadChecksum)
    }

    /// The copy at `offset` if its header and payload check out: the frame and the
    /// offset just past the copy.
    static func copy(in bytes: [UInt8], at offset: Int, sectorSize: Int) -> (RaftFrame, end: Int, copy: UInt8)? {
        guard let header = header(in: bytes, at: offset) else { return nil }
        let start = offset + headerSize
        guard start + header.payloadLength <= bytes.count else { return nil }
        let payload = Array(bytes[start..<(start + header.payloadLength)])
        guard CRC32C.checksum(payload) == header.payloadChecksum,
              let frame = try? decodePayload(payload, sequence: header.sequence)
        else { return nil }
        return (frame, offset + paddedSize(headerSize + header.payloadLength, sectorSize: sectorSize), header.copy)
    }
}
