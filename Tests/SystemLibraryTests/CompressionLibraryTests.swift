import CLZ4
import CZstd
import Testing

/// The system libraries are found through pkg-config and link: a round trip through each.
@Suite struct CompressionLibraryTests {
    let input = [UInt8](repeating: 0, count: 4096) + Array("aegis block ".utf8) + [UInt8](repeating: 7, count: 4096)

    @Test func lz4RoundTrip() {
        var compressed = [UInt8](repeating: 0, count: Int(LZ4_compressBound(Int32(input.count))))
        let size = input.withUnsafeBufferPointer { source in
            compressed.withUnsafeMutableBufferPointer { target in
                LZ4_compress_default(
                    UnsafeRawPointer(source.baseAddress!).assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(target.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(source.count), Int32(target.count))
            }
        }
        #expect(size > 0 && Int(size) < input.count / 10)
        var output = [UInt8](repeating: 0, count: input.count)
        let restored = compressed.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                LZ4_decompress_safe(
                    UnsafeRawPointer(source.baseAddress!).assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(target.baseAddress!).assumingMemoryBound(to: CChar.self),
                    size, Int32(target.count))
            }
        }
        #expect(Int(restored) == input.count)
        #expect(output == input)
    }

    @Test func zstdRoundTrip() {
        var compressed = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let size = compressed.withUnsafeMutableBytes { target in
            input.withUnsafeBytes { source in
                ZSTD_compress(target.baseAddress, target.count, source.baseAddress, source.count, 3)
            }
        }
        #expect(ZSTD_isError(size) == 0)
        #expect(size < input.count / 10)
        var output = [UInt8](repeating: 0, count: input.count)
        let restored = output.withUnsafeMutableBytes { target in
            compressed.withUnsafeBytes { source in
                ZSTD_decompress(target.baseAddress, target.count, source.baseAddress, size)
            }
        }
        #expect(restored == input.count)
        #expect(output == input)
    }
}
