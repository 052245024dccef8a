import Aegis

/// An item of the replicated set: a client's request id and the value it wrote.
struct ProbeItem: Equatable, Sendable {
    var id: UInt64
    var value: UInt64
}

/// Messages of the probe protocol, encoded to bytes for the simulated network.
enum ProbeMessage: Equatable, Sendable {
    /// Client to server: add this item.
    case put(ProbeItem)
    /// Server to client: the item is stored on `ack_quorum` servers.
    case putAcknowledged(id: UInt64)
    /// Server to server: store this item (replication of a put).
    case store(ProbeItem)
    /// Server to server: the item is durable here.
    case stored(id: UInt64)
    /// Server to server: the ids I hold (anti-entropy); `wantReply` asks for the
    /// receiver's ids in return when it lacks some of mine.
    case digest(wantReply: Bool, ids: [UInt64])
    /// Server to server: items the receiver lacked.
    case items([ProbeItem])

    static let idsPerDigestMax = 16_384
    static let itemsPerMessageMax = 1_024

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        switch self {
        case let .put(item):
            writer.write(UInt8(1))
            writer.write(item.id)
            writer.write(item.value)
        case let .putAcknowledged(id):
            writer.write(UInt8(2))
            writer.write(id)
        case let .store(item):
            writer.write(UInt8(3))
            writer.write(item.id)
            writer.write(item.value)
        case let .stored(id):
            writer.write(UInt8(4))
            writer.write(id)
        case let .digest(wantReply, ids):
            precondition(ids.count <= ProbeMessage.idsPerDigestMax, "digest too large")
            writer.write(UInt8(5))
            writer.write(UInt8(wantReply ? 1 : 0))
            writer.write(UInt32(ids.count))
            for id in ids { writer.write(id) }
        case let .items(items):
            precondition(items.count <= ProbeMessage.itemsPerMessageMax, "items message too large")
            writer.write(UInt8(6))
            writer.write(UInt32(items.count))
            for item in items {
                writer.write(item.id)
                writer.write(item.value)
            }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ProbeMessage {
        var reader = ByteReader(bytes)
        let message: ProbeMessage
        switch try reader.readUInt8() {
        case 1: message = .put(ProbeItem(id: try reader.readUInt64(), value: try reader.readUInt64()))
        case 2: message = .putAcknowledged(id: try reader.readUInt64())
        case 3: message = .store(ProbeItem(id: try reader.readUInt64(), value: try reader.readUInt64()))
        case 4: message = .stored(id: try reader.readUInt64())
        case 5:
            let wantReply = try reader.readUInt8() == 1
            let count = Int(try reader.readUInt32())
            guard count <= idsPerDigestMax else { throw .invalid("digest of \(count) ids exceeds the limit") }
            var ids: [UInt64] = []
            ids.reserveCapacity(count)
            for _ in 0..<count { ids.append(try reader.readUInt64()) }
            message = .digest(wantReply: wantReply, ids: ids)
        case 6:
            let count = Int(try reader.readUInt32())
            guard count <= itemsPerMessageMax else { throw .invalid("\(count) items exceed the limit") }
            var items: [ProbeItem] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                items.append(ProbeItem(id: try reader.readUInt64(), value: try reader.readUInt64()))
            }
            message = .items(items)
        case let tag:
            throw .invalid("unknown message tag \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("\(reader.remaining) trailing bytes") }
        return message
    }
}

