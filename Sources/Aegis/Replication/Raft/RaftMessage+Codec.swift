/// The wire form of Raft messages: a tag byte, the envelope, then the body's fields,
/// little-endian. Decoding refuses anything malformed or over its bounds, so bytes from
/// the network can never crash a node.
extension RaftMessage {
    /// The first byte of every Raft message on the wire (other protocols use others).
    public static let wireTag: UInt8 = 0x52

    /// Entries one append message may carry at most, whatever the byte bound.
    public static let entriesPerMessageMax = 4096

    public var encoded: [UInt8] {
        var capacity = 64
        if case let .append(_, _, entries, _, _) = body {
            for entry in entries { capacity += entry.encodedSize }
        }
        var writer = ByteWriter(capacity: capacity)
        writer.write(RaftMessage.wireTag)
        writer.write(from.rawValue)
        writer.write(to.rawValue)
        writer.write(term.rawValue)
        switch body {
        case let .preVote(lastIndex, lastTerm):
            writer.write(UInt8(1))
            writer.write(lastIndex.rawValue)
            writer.write(lastTerm.rawValue)
        case let .preVoteResponse(granted):
            writer.write(UInt8(2))
            writer.write(UInt8(granted ? 1 : 0))
        case let .vote(lastIndex, lastTerm, transfer):
            writer.write(UInt8(3))
            writer.write(lastIndex.rawValue)
            writer.write(lastTerm.rawValue)
            writer.write(UInt8(transfer ? 1 : 0))
        case let .voteResponse(granted):
            writer.write(UInt8(4))
            writer.write(UInt8(granted ? 1 : 0))
        case let .append(prevIndex, prevTerm, entries, commit, leaderLastIndex):
            writer.write(UInt8(5))
            writer.write(prevIndex.rawValue)
            writer.write(prevTerm.rawValue)
            writer.write(commit.rawValue)
            writer.write(leaderLastIndex.rawValue)
            writer.write(UInt32(entries.count))
            for entry in entries { RaftMessage.encode(entry, into: &writer) }
        case let .appendResponse(success, index, hint, logLost):
            writer.write(UInt8(6))
            writer.write(UInt8(success ? 1 : 0))
            writer.write(index.rawValue)
            writer.write(hint.rawValue)
            writer.write(UInt8(logLost ? 1 : 0))
        case let .heartbeat(commit, context):
            writer.write(UInt8(7))
            writer.write(commit.rawValue)
            writer.write(context)
        case let .heartbeatResponse(context):
            writer.write(UInt8(8))
            writer.write(context)
        case let .snapshotChunk(metadata, totalBytes, checksum, offset, chunk):
            writer.write(UInt8(9))
            metadata.encode(into: &writer)
            writer.write(totalBytes)
            writer.write(checksum)
            writer.write(offset)
            writer.write(lengthPrefixed: chunk)
        case let .snapshotChunkResponse(index, nextOffset):
            writer.write(UInt8(10))
            writer.write(index.rawValue)
            writer.write(nextOffset)
        case .timeoutNow:
            writer.write(UInt8(11))
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> RaftMessage {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a Raft message") }
        let from = NodeID(try reader.readUInt32())
        let to = NodeID(try reader.readUInt32())
        let term = Term(try reader.readUInt64())
        let body: Body
        switch try reader.readUInt8() {
        case 1:
            body = .preVote(lastIndex: LogIndex(try reader.readUInt64()), lastTerm: Term(try reader.readUInt64()))
        case 2:
            body = .preVoteResponse(granted: try readBool(&reader))
        case 3:
            body = .vote(lastIndex: LogIndex(try reader.readUInt64()), lastTerm: Term(try reader.readUInt64()),
                transfer: try readBool(&reader))
        case 4:
            body = .voteResponse(granted: try readBool(&reader))
        case 5:
            let prevIndex = LogIndex(try reader.readUInt64())
            let prevTerm = Term(try reader.readUInt64())
            let commit = LogIndex(try reader.readUInt64())
            let leaderLastIndex = LogIndex(try reader.readUInt64())
            let count = Int(try reader.readUInt32())
            guard count <= entriesPerMessageMax else { throw .invalid("\(count) entries exceed \(entriesPerMessageMax)") }
            var entries: [LogEntry] = []
            entries.reserveCapacity(count)
            for position in 0..<count {
                let entry = try decodeEntry(from: &reader)
                guard entry.index.rawValue == prevIndex.rawValue + UInt64(position) + 1 else {
                    throw .invalid("entry \(entry.index) out of sequence after \(prevIndex)")
                }
                entries.append(entry)
            }
            body = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit,
                leaderLastIndex: leaderLastIndex)
        case 6:
            body = .appendResponse(success: try readBool(&reader), index: LogIndex(try reader.readUInt64()),
                hint: LogIndex(try reader.readUInt64()), logLost: try readBool(&reader))
        case 7:
            body = .heartbeat(commit: LogIndex(try reader.readUInt64()), context: try reader.readUInt64())
        case 8:
            body = .heartbeatResponse(context: try reader.readUInt64())
        case 9:
            let metadata = try SnapshotMetadata.decode(from: &reader)
            let totalBytes = try reader.readUInt32()
            let checksum = try reader.readUInt32()
            let offset = try reader.readUInt32()
            let chunk = try reader.readLengthPrefixed(maximumCount: networkMessageSizeMax)
            guard UInt64(offset) + UInt64(chunk.count) <= UInt64(totalBytes) else {
                throw .invalid("snapshot chunk runs past the snapshot's \(totalBytes) bytes")
            }
            body = .snapshotChunk(metadata: metadata, totalBytes: totalBytes, checksum: checksum, offset: offset, chunk: chunk)
        case 10:
            body = .snapshotChunkResponse(index: LogIndex(try reader.readUInt64()), nextOffset: try reader.readUInt32())
        case 11:
            body = .timeoutNow
        case let tag:
            throw .invalid("unknown Raft message kind \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("\(reader.remaining) trailing bytes after a Raft message") }
        return RaftMessage(from: from, to: to, term: term, body: body)
    }

    /// The largest entry payload accepted from the wire or the disk.
    public static let entryDataMax = 1 << 20

    public static func encode(_ entry: LogEntry, into writer: inout ByteWriter) {
        writer.write(entry.index.rawValue)
        writer.write(entry.term.rawValue)
        writer.write(entry.kind.rawValue)
        writer.write(lengthPrefixed: entry.data)
    }

    public static func decodeEntry(from reader: inout ByteReader) throws(DecodeError) -> LogEntry {
        let index = LogIndex(try reader.readUInt64())
        let term = Term(try reader.readUInt64())
        guard let kind = EntryKind(rawValue: try reader.readUInt8()) else { throw .invalid("unknown entry kind") }
        let data = try reader.readLengthPrefixed(maximumCount: entryDataMax)
        guard index > .zero else { throw .invalid("entry index 0") }
        return LogEntry(index: index, term: term, kind: kind, data: data)
    }

    private static func readBool(_ reader: inout ByteReader) throws(DecodeError) -> Bool {
        switch try reader.readUInt8() {
        case 0: return false
        case 1: return true
        case let value: throw .invalid("flag \(value) is neither 0 nor 1")
        }
    }
}
