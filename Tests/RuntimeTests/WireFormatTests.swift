import Aegis
import Foundation
import NIOCore
import NIOEmbedded
import Testing
@testable import Runtime

@Suite struct PeerFrameTests {
    @Test func helloRoundTrips() throws {
        let hello = PeerHello(cluster: "prod", node: NodeID(7), peerAddress: "10.0.0.7:9190", httpAddress: "10.0.0.7:9090")
        #expect(try PeerHello.decode(hello.encoded) == hello)
    }

    @Test func aHelloWithWrongMagicOrVersionOrTrailingBytesIsRefused() {
        let good = PeerHello(cluster: "c", node: NodeID(1), peerAddress: "a:1", httpAddress: "a:2").encoded
        var wrongMagic = good
        wrongMagic[0] = UInt8(ascii: "X")
        var wrongVersion = good
        wrongVersion[4] = 9
        for bytes in [wrongMagic, wrongVersion, good + [0], Array(good.prefix(6)), []] {
            #expect(throws: PeerFrameError.self) { try PeerHello.decode(bytes) }
        }
    }

    @Test func decoderSplitsFramesAndRejectsDamage() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PeerFrameDecoder()))
        var buffer = channel.allocator.buffer(capacity: 64)
        PeerFrame.encode([1, 2, 3], into: &buffer)
        PeerFrame.encode([], into: &buffer)
        PeerFrame.encode(Array(repeating: 9, count: 1000), into: &buffer)
        // Delivered a byte at a time: frames come out whole.
        while let byte = buffer.readInteger(as: UInt8.self) {
            var one = channel.allocator.buffer(capacity: 1)
            one.writeInteger(byte)
            try channel.writeInbound(one)
        }
        #expect(try channel.readInbound(as: [UInt8].self) == [1, 2, 3])
        #expect(try channel.readInbound(as: [UInt8].self) == [])
        #expect(try channel.readInbound(as: [UInt8].self) == Array(repeating: 9, count: 1000))

        var corrupt = channel.allocator.buffer(capacity: 16)
        PeerFrame.encode([5, 6, 7, 8], into: &corrupt)
        corrupt.setInteger(UInt8(0xEE), at: corrupt.writerIndex - 1)
        #expect(throws: PeerFrameError.self) { try channel.writeInbound(corrupt) }

        let fresh = EmbeddedChannel(handler: ByteToMessageHandler(PeerFrameDecoder()))
        var huge = fresh.allocator.buffer(capacity: 8)
        huge.writeInteger(UInt32.max)
        huge.writeInteger(UInt32(0))
        #expect(throws: PeerFrameError.self) { try fresh.writeInbound(huge) }
    }
}

@Suite struct KVEntryTests {
    @Test func storedFormRoundTripsThroughTheFastAndGeneralReaders() {
        let entries = [
            KVEntry(key: "a", valueJSON: "{\"x\":[1,2,{\"y\":null}]}", ttlSeconds: 60, createdMilliseconds: 1, updatedMilliseconds: 2),
            KVEntry(key: "b/c d", valueJSON: "\"text with } and \\\"quotes\\\"\"", ttlSeconds: nil, createdMilliseconds: 1_764_000_000_000, updatedMilliseconds: 1_764_000_000_123),
            KVEntry(key: "n", valueJSON: "null", ttlSeconds: nil, createdMilliseconds: 0, updatedMilliseconds: 0),
        ]
        for entry in entries {
            #expect(KVEntry.decode(key: entry.key, stored: entry.stored) == entry)
        }
        // A differently ordered but valid stored object still reads (general parser).
        let reordered = Array("{\"v\":[1],\"u\":5,\"c\":4}".utf8)
        #expect(KVEntry.decode(key: "k", stored: reordered)?.valueJSON == "[1]")
        #expect(KVEntry.decode(key: "k", stored: Array("not json".utf8)) == nil)
    }

    @Test func expiryFollowsTheTimeToLive() {
        let entry = KVEntry(key: "k", valueJSON: "1", ttlSeconds: 2, createdMilliseconds: 1000, updatedMilliseconds: 1000)
        #expect(!entry.isExpired(nowMilliseconds: 2999))
        #expect(entry.isExpired(nowMilliseconds: 3000))
        #expect(!KVEntry(key: "k", valueJSON: "1", ttlSeconds: nil, createdMilliseconds: 0, updatedMilliseconds: 0).isExpired(nowMilliseconds: .max))
    }

    @Test func timestampsMatchFoundationsFormatter() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var milliseconds: Int64 = -86_400_000 * 800
        var step: Int64 = 9_876_543_211
        while milliseconds < 4_102_444_800_000 {
            let expected = formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            #expect(Timestamp.iso8601(milliseconds: milliseconds) == expected)
            milliseconds += step
            step += 1
        }
        #expect(Timestamp.iso8601(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
    }

    @Test func quotingEscapesWhatJSONRequires() throws {
        for text in ["plain", "quote \" backslash \\ newline \n tab \t", "\u{01}\u{1F}", "ünïcödé ☃"] {
            let quoted = JSONText.quote(text)
            let decoded = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: [.fragmentsAllowed]) as? String
            #expect(decoded == text)
        }
    }
}

@Suite struct OpenAPIDocumentTests {
    @Test func servedDocumentIsTheRepositoryFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(OpenAPIDocument.yaml + "\n" == file, "openapi.yaml changed: regenerate Sources/Runtime/Server/OpenAPIDocument.swift from it")
    }
}
