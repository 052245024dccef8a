import Aegis
import NIOCore

/// The bytes between nodes on TCP: each frame is a 4-byte big-endian payload length,
/// the payload's CRC32C (4 bytes, big-endian), then the payload. The first frame on a
/// connection is a `PeerHello` naming the sender; every later frame is one engine
/// message, delivered as `NodeEvent.message(from:bytes:)`. A frame too long, a
/// checksum that does not match or a first frame that is not a hello closes the
/// connection: the engine already assumes messages can be lost.
enum PeerFrame {
    static let headerBytes = 8
    /// An engine message at most, plus room for a hello.
    static let payloadBytesMax = networkMessageSizeMax + 4096

    static func encode(_ payload: [UInt8], into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: headerBytes + payload.count)
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeInteger(CRC32C.checksum(payload))
        buffer.writeBytes(payload)
    }
}

enum PeerFrameError: Error, CustomStringConvertible {
    case tooLong(bytes: Int)
    case checksumMismatch
    case notAHello(String)

    var description: String {
        switch self {
        case let .tooLong(bytes): return "a peer frame of \(bytes) bytes is above the \(PeerFrame.payloadBytesMax)-byte limit"
        case .checksumMismatch: return "a peer frame failed its checksum"
        case let .notAHello(reason): return "the first peer frame is not a valid hello: \(reason)"
        }
    }
}

/// Splits the byte stream into checksummed payloads.
struct PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              let checksum = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self)
        else { return .needMoreData }
        guard Int(length) <= PeerFrame.payloadBytesMax else { throw PeerFrameError.tooLong(bytes: Int(length)) }
        guard buffer.readableBytes >= PeerFrame.headerBytes + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: PeerFrame.headerBytes)
        let payload = buffer.readBytes(length: Int(length))!
        guard CRC32C.checksum(payload) == checksum else { throw PeerFrameError.checksumMismatch }
        context.fireChannelRead(wrapInboundOut(payload))
        return .continue
    }
}

/// Who is on the other end of a connection: its node id and the addresses it serves
/// peers and HTTP clients on (so nodes learn each other's HTTP addresses and can point
/// clients at the leader), and the cluster name, so two clusters on one host never mix.
struct PeerHello: Equatable, Sendable {
    static let magic: [UInt8] = Array("AEGH".utf8)
    static let version: UInt8 = 1

    var cluster: String
    var node: NodeID
    var peerAddress: String
    var httpAddress: String

    var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(raw: PeerHello.magic)
        writer.write(PeerHello.version)
        writer.write(cluster)
        writer.write(node.rawValue)
        writer.write(peerAddress)
        writer.write(httpAddress)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(PeerFrameError) -> PeerHello {
        var reader = ByteReader(bytes)
        do {
            guard try reader.readRaw(count: magic.count) == magic else { throw PeerFrameError.notAHello("wrong magic") }
            let version = try reader.readUInt8()
            guard version == PeerHello.version else { throw PeerFrameError.notAHello("protocol version \(version), this node speaks \(PeerHello.version)") }
            let cluster = try reader.readString(maximumCount: 256)
            let node = NodeID(try reader.readUInt32())
            let peer = try reader.readString(maximumCount: 256)
            let http = try reader.readString(maximumCount: 256)
            guard reader.isAtEnd else { throw PeerFrameError.notAHello("trailing bytes") }
            return PeerHello(cluster: cluster, node: node, peerAddress: peer, httpAddress: http)
        } catch let error as PeerFrameError {
            throw error
        } catch {
            throw .notAHello("\(error)")
        }
    }
}
