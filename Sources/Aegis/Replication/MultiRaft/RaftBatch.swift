/// Raft messages of many groups bound for one node, carried as one network message:
/// a node with hundreds of groups sends each peer one batch per round of work (a
/// heartbeat round of every group it leads is one message), not one per group.
///
/// Wire form: tag 0x4D, count u32, then per message the group u32 and the Raft
/// message's own encoding, length-prefixed. Decoding refuses anything malformed.
public struct RaftBatch: Sendable, Equatable {
    public static let wireTag: UInt8 = 0x4D
    /// Room kept for the batch's own header and the per-message prefix.
    static let overheadBytes = 16

    public var messages: [(group: ShardID, message: RaftMessage)]

    public init(messages: [(group: ShardID, message: RaftMessage)] = []) {
        self.messages = messages
    }

    public static func == (lhs: RaftBatch, rhs: RaftBatch) -> Bool {
        lhs.messages.count == rhs.messages.count
            && zip(lhs.messages, rhs.messages).allSatisfy { $0.group == $1.group && $0.message == $1.message }
    }

    /// Packs messages (already encoded with `RaftMessage.encoded`) into as few batches
    /// as fit `networkMessageSizeMax`, keeping their order.
    public static func pack(_ encoded: [(group: ShardID, bytes: [UInt8])]) -> [[UInt8]] {
        var batches: [[UInt8]] = []
        var writer = ByteWriter(capacity: 256)
        var count: UInt32 = 0
        func start() {
            writer = ByteWriter(capacity: 256)
            writer.write(wireTag)
            writer.write(UInt32(0))
            count = 0
        }
        func finish() {
            guard count > 0 else { return }
            writer.overwrite(count, at: 1)
            batches.append(writer.bytes)
        }
        start()
        for (group, bytes) in encoded {
            precondition(bytes.count + overheadBytes <= networkMessageSizeMax, "a Raft message larger than a network message")
            if writer.count + bytes.count + 8 > networkMessageSizeMax {
                finish()
                start()
            }
            writer.write(group.rawValue)
            writer.write(lengthPrefixed: bytes)
            count += 1
        }
        finish()
        return batches
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> RaftBatch {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a Raft batch") }
        let count = Int(try reader.readUInt32())
        guard count <= networkMessageSizeMax / 16 else { throw .invalid("\(count) messages in one batch") }
        var messages: [(group: ShardID, message: RaftMessage)] = []
        messages.reserveCapacity(count)
        for _ in 0..<count {
            let group = ShardID(try reader.readUInt32())
            let encoded = try reader.readLengthPrefixed(maximumCount: networkMessageSizeMax)
            messages.append((group, try RaftMessage.decode(encoded)))
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a Raft batch") }
        return RaftBatch(messages: messages)
    }
}
