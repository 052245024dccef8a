import Testing
@testable import Aegis

@Suite struct CRC32CTests {
    /// The instruction and the tables agree on every length and alignment.
    @Test func hardwareAndSoftwareAgree() {
        var state: UInt64 = 12345
        let data = (0..<4099).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4090] {
                data[start..<(start + length)].withUnsafeBytes { raw in
                    #expect(CRC32C.checksum(buffer: raw, continuing: 0x1234) == CRC32C.software(buffer: raw, continuing: 0x1234))
                }
            }
        }
        #if arch(x86_64)
        #expect(CRC32C.usesHardware, "x86-64 machines this project runs on have SSE4.2")
        #endif
    }

    @Test func knownVectors() {
        // The check value of CRC-32C, from RFC 3720 and every CRC catalogue.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func continuingEqualsWhole() {
        let bytes = Array("the quick brown fox jumps over the lazy dog".utf8)
        let first = CRC32C.checksum(bytes[..<10])
        #expect(CRC32C.checksum(bytes[10...], continuing: first) == CRC32C.checksum(bytes))
    }

    @Test func detectsEverySingleBitFlip() {
        let bytes = Array("a record payload".utf8)
        let good = CRC32C.checksum(bytes)
        for index in bytes.indices {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[index] ^= 1 << bit
                #expect(CRC32C.checksum(flipped) != good)
            }
        }
    }
}

@Suite struct ByteCodecTests {
    @Test func roundTrip() throws {
        var writer = ByteWriter()
        writer.write(UInt8(7))
        writer.write(UInt16(0xBEEF))
        writer.write(UInt32(0xDEAD_BEEF))
        writer.write(UInt64.max - 1)
        writer.write(Int64(-42))
        writer.write("héllo")
        var reader = ByteReader(writer.bytes)
        #expect(try reader.readUInt8() == 7)
        #expect(try reader.readUInt16() == 0xBEEF)
        #expect(try reader.readUInt32() == 0xDEAD_BEEF)
        #expect(try reader.readUInt64() == UInt64.max - 1)
        #expect(try reader.readInt64() == -42)
        #expect(try reader.readString(maximumCount: 64) == "héllo")
        #expect(reader.isAtEnd)
    }

    @Test func littleEndianOnTheWire() {
        var writer = ByteWriter()
        writer.write(UInt32(0x0102_0304))
        #expect(writer.bytes == [4, 3, 2, 1])
    }

    @Test func shortInputThrowsInsteadOfCrashing() {
        var reader = ByteReader([1, 2, 3])
        #expect(throws: DecodeError.truncated(needed: 4, available: 3)) { try reader.readUInt32() }
        var lengthReader = ByteReader([255, 255, 255, 255])
        #expect(throws: DecodeError.self) { try lengthReader.readLengthPrefixed(maximumCount: 100) }
        var invalidUTF8 = ByteReader([2, 0, 0, 0, 0xC3, 0x28])
        #expect(throws: DecodeError.invalid("string is not valid UTF-8")) { try invalidUTF8.readString(maximumCount: 10) }
    }
}

@Suite struct StableHashTests {
    @Test func sameInEveryProcess() {
        // Pinned: a change here changes every trace digest, so it must be deliberate.
        #expect(StableHash64.digest("aegis") == StableHash64.digest(Array("aegis".utf8)))
        #expect(StableHash64.digest("aegis").hex16 == "153c0737897cc64b")
        #expect(StableHash64.digest([1, 2, 3]) == StableHash64.digest([1, 2, 3]))
        #expect(StableHash64.digest([1, 2, 3]) != StableHash64.digest([1, 2, 4]))
        #expect(UInt64(255).hex16 == "00000000000000ff")
    }
}

private final class CountingEntropy: Entropy {
    var state: UInt64 = 0
    func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash64.avalanche(state)
    }
}

@Suite struct EntropyTests {
    @Test func uniformStaysInBoundsAndCoversThem() {
        let entropy = CountingEntropy()
        var seen = [Bool](repeating: false, count: 7)
        for _ in 0..<10_000 {
            let value = entropy.uniform(below: 7)
            #expect(value < 7)
            seen[Int(value)] = true
        }
        #expect(seen.allSatisfy { $0 })
        for _ in 0..<1_000 {
            #expect((10...12).contains(entropy.uniform(in: UInt64(10)...12)))
        }
    }

    @Test func chanceMatchesItsProbability() {
        let entropy = CountingEntropy()
        let hits = (0..<20_000).filter { _ in entropy.chance(1, in: 4) }.count
        #expect(abs(Double(hits) / 20_000 - 0.25) < 0.02)
    }
}

@Suite struct DiskNameTests {
    @Test func namesAreValidated() {
        struct Probe {
            static func check(_ name: String) -> Bool {
                do {
                    try validateDiskFileName(name)
                    return true
                } catch {
                    return false
                }
            }
        }
        #expect(Probe.check("wal-000001.log"))
        #expect(!Probe.check(""))
        #expect(!Probe.check("a/b"))
        #expect(!Probe.check(".."))
        #expect(!Probe.check(String(repeating: "x", count: 256)))
    }
}
