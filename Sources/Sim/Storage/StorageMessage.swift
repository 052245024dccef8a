import Aegis

/// What a storage client asks of the storage node, as bytes on the simulated network.
enum StorageRequest: Equatable {
    /// Move `amount` from one account to another in one transaction (refused when the
    /// source holds less).
    case transfer(id: UInt64, from: Int, to: Int, amount: Int, isolation: IsolationLevel)
    /// Blind writes (nil value: delete) in one transaction.
    case write(id: UInt64, writes: [KeyWrite], isolation: IsolationLevel)
    case read(id: UInt64, keys: [[UInt8]])
    case scan(id: UInt64, start: [UInt8], end: [UInt8], limit: Int)

    var id: UInt64 {
        switch self {
        case let .transfer(id, _, _, _, _), let .write(id, _, _), let .read(id, _), let .scan(id, _, _, _): return id
        }
    }

    func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        switch self {
        case let .transfer(id, from, to, amount, isolation):
            writer.write(UInt8(1))
            writer.write(id)
            writer.write(UInt32(from))
            writer.write(UInt32(to))
            writer.write(UInt64(amount))
            writer.write(isolation == .serializable ? UInt8(1) : 0)
        case let .write(id, writes, isolation):
            writer.write(UInt8(2))
            writer.write(id)
            writer.write(isolation == .serializable ? UInt8(1) : 0)
            writer.write(UInt32(writes.count))
            for write in writes {
                writer.write(lengthPrefixed: write.key)
                writer.write(write.value == nil ? UInt8(0) : 1)
                if let value = write.value { writer.write(lengthPrefixed: value) }
            }
        case let .read(id, keys):
            writer.write(UInt8(3))
            writer.write(id)
            writer.write(UInt32(keys.count))
            for key in keys { writer.write(lengthPrefixed: key) }
        case let .scan(id, start, end, limit):
            writer.write(UInt8(4))
            writer.write(id)
            writer.write(lengthPrefixed: start)
            writer.write(lengthPrefixed: end)
            writer.write(UInt32(limit))
        }
        return writer.bytes
    }

    static let fieldBytesMax = 4 << 20

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> StorageRequest {
        var reader = ByteReader(bytes)
        let kind = try reader.readUInt8()
        let id = try reader.readUInt64()
        func isolation(_ byte: UInt8) -> IsolationLevel { byte == 1 ? .serializable : .snapshot }
        switch kind {
        case 1:
            let from = Int(try reader.readUInt32())
            let to = Int(try reader.readUInt32())
            let amount = Int(try reader.readUInt64() & 0xFFFF_FFFF)
            return .transfer(id: id, from: from, to: to, amount: amount, isolation: isolation(try reader.readUInt8()))
        case 2:
            let level = isolation(try reader.readUInt8())
            let count = Int(try reader.readUInt32())
            guard count <= 1024 else { throw .invalid("\(count) writes") }
            var writes: [KeyWrite] = []
            for _ in 0..<count {
                let key = try reader.readLengthPrefixed(maximumCount: fieldBytesMax)
                let present = try reader.readUInt8()
                writes.append(KeyWrite(key: key, value: present == 1 ? try reader.readLengthPrefixed(maximumCount: fieldBytesMax) : nil))
            }
            return .write(id: id, writes: writes, isolation: level)
        case 3:
            let count = Int(try reader.readUInt32())
            guard count <= 1024 else { throw .invalid("\(count) keys") }
            var keys: [[UInt8]] = []
            for _ in 0..<count { keys.append(try reader.readLengthPrefixed(maximumCount: fieldBytesMax)) }
            return .read(id: id, keys: keys)
        case 4:
            let start = try reader.readLengthPrefixed(maximumCount: fieldBytesMax)
            let end = try reader.readLengthPrefixed(maximumCount: fieldBytesMax)
            return .scan(id: id, start: start, end: end, limit: Int(try reader.readUInt32()))
        default:
            throw .invalid("unknown storage request kind \(kind)")
        }
    }
}

/// The storage node's answer. Clients only count answers; the checker judges what the
/// node did from its own records.
enum StorageReply: Equatable {
    case committed(id: UInt64, timestamp: Timestamp)
    /// Nothing was applied (a conflict, too little money, a refused write).
    case refused(id: UInt64, reason: String)
    /// The outcome is unknown (the store failed mid-commit) or the store is unavailable.
    case failed(id: UInt64, reason: String)
    case values(id: UInt64, timestamp: Timestamp, count: Int)

    var id: UInt64 {
        switch self {
        case let .committed(id, _), let .refused(id, _), let .failed(id, _), let .values(id, _, _): return id
        }
    }

    func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: 32)
        switch self {
        case let .committed(id, timestamp):
            writer.write(UInt8(1))
            writer.write(id)
            writer.write(timestamp)
        case let .refused(id, reason):
            writer.write(UInt8(2))
            writer.write(id)
            writer.write(reason)
        case let .failed(id, reason):
            writer.write(UInt8(3))
            writer.write(id)
            writer.write(reason)
        case let .values(id, timestamp, count):
            writer.write(UInt8(4))
            writer.write(id)
            writer.write(timestamp)
            writer.write(UInt32(count))
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> StorageReply {
        var reader = ByteReader(bytes)
        let kind = try reader.readUInt8()
        let id = try reader.readUInt64()
        switch kind {
        case 1: return .committed(id: id, timestamp: try reader.readUInt64())
        case 2: return .refused(id: id, reason: try reader.readString(maximumCount: 4096))
        case 3: return .failed(id: id, reason: try reader.readString(maximumCount: 4096))
        case 4: return .values(id: id, timestamp: try reader.readUInt64(), count: Int(try reader.readUInt32()))
        default: throw .invalid("unknown storage reply kind \(kind)")
        }
    }
}
