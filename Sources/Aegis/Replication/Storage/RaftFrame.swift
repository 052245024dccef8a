/// The payload of one `FrameLog` frame of the Raft log: the hard state, optionally the
/// snapshot the log now starts after, and a run of entries that replaces the log from
/// its first index. (`FrameLog` says how frames survive torn writes and damage.)
public struct RaftFrame: Sendable, Equatable {
    public var hardState: HardState
    /// Set when the log was replaced by a snapshot: entries up to here are gone.
    public var snapshotBase: (index: LogIndex, term: Term)?
    public var entries: [LogEntry]

    public init(hardState: HardState, snapshotBase: (index: LogIndex, term: Term)? = nil, entries: [LogEntry] = []) {
        self.hardState = hardState
        self.snapshotBase = snapshotBase
        self.entries = entries
    }

    public static func == (lhs: RaftFrame, rhs: RaftFrame) -> Bool {
        lhs.hardState == rhs.hardState && lhs.entries == rhs.entries
            && lhs.snapshotBase?.index == rhs.snapshotBase?.index && lhs.snapshotBase?.term == rhs.snapshotBase?.term
    }

    static let payloadVersion: UInt8 = 2

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

    static func decodePayload(_ bytes: [UInt8]) throws(DecodeError) -> RaftFrame {
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
        guard count <= FrameLog.payloadMax / 21 else { throw .invalid("\(count) entries in one frame") }
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
        return RaftFrame(hardState: hardState, snapshotBase: base, entries: entries)
    }
}
