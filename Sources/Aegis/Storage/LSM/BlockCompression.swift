#if Compression
import CLZ4
import CZstd
#endif

/// How a table's blocks are compressed, chosen per table. A block that does not shrink
/// is stored uncompressed whatever the table's choice, and says so in its own trailer.
public enum BlockCompression: Sendable, Equatable, CustomStringConvertible {
    case none
    case lz4
    /// Zstandard at `level` (1 fastest … 19 smallest; 3 is Zstd's default).
    case zstd(level: Int)

    public static let zstdLevels = 1...19

    /// The codec byte a block's trailer carries.
    var codec: UInt8 {
        switch self {
        case .none: return 0
        case .lz4: return 1
        case .zstd: return 2
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .lz4: return "lz4"
        case let .zstd(level): return "zstd:\(level)"
        }
    }

    /// "none", "lz4", "zstd" (level 3) or "zstd:LEVEL".
    public init?(parsing text: String) {
        switch text {
        case "none": self = .none
        case "lz4": self = .lz4
        case "zstd": self = .zstd(level: 3)
        default:
            guard text.hasPrefix("zstd:"), let level = Int(text.dropFirst(5)),
                  BlockCompression.zstdLevels.contains(level) else { return nil }
            self = .zstd(level: level)
        }
    }

    /// Whether this build can write and read it (LZ4 and Zstd need the Compression trait).
    public var isAvailable: Bool {
        #if Compression
        return true
        #else
        return self == .none
        #endif
    }
}

/// Reusable compression state (Zstd's contexts), so that small blocks do not pay for
/// setting a context up and tearing it down each time. One per tree; not shared
/// between threads.
public final class CodecContext {
    #if Compression
    fileprivate var zstdCompress: OpaquePointer?
    fileprivate var zstdDecompress: OpaquePointer?
    #endif

    public init() {}

    deinit {
        #if Compression
        if let zstdCompress { ZSTD_freeCCtx(zstdCompress) }
        if let zstdDecompress { ZSTD_freeDCtx(zstdDecompress) }
        #endif
    }
}

/// Compression and decompression of one block through the system libraries.
enum BlockCodec {
    /// The largest block a table holds uncompressed; a trailer claiming more is damage.
    static let uncompressedBytesMax = 64 << 20

    /// `input` compressed with `compression`, with the codec byte actually used: the
    /// input itself (codec 0) when compression would not save anything.
    static func compress(_ input: [UInt8], with compression: BlockCompression, context: CodecContext? = nil) -> (bytes: [UInt8], codec: UInt8) {
        #if Compression
        switch compression {
        case .none:
            return (input, 0)
        case .lz4:
            guard input.count > 0, input.count < Int(Int32.max) / 2 else { return (input, 0) }
            let bound = Int(LZ4_compressBound(Int32(input.count)))
            var output = [UInt8](repeating: 0, count: bound)
            let size = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { target in
                    LZ4_compress_default(
                        source.baseAddress!.assumingMemoryBound(to: CChar.self),
                        target.baseAddress!.assumingMemoryBound(to: CChar.self),
                        Int32(source.count), Int32(target.count))
                }
            }
            guard size > 0, Int(size) < input.count else { return (input, 0) }
            output.removeLast(bound - Int(size))
            return (output, 1)
        case let .zstd(level):
            guard input.count > 0 else { return (input, 0) }
            let bound = ZSTD_compressBound(input.count)
            var output = [UInt8](repeating: 0, count: bound)
            if let context, context.zstdCompress == nil { context.zstdCompress = ZSTD_createCCtx() }
            let size = output.withUnsafeMutableBytes { target in
                input.withUnsafeBytes { source in
                    if let cctx = context?.zstdCompress {
                        return ZSTD_compressCCtx(cctx, target.baseAddress, target.count, source.baseAddress, source.count, Int32(level))
                    }
                    return ZSTD_compress(target.baseAddress, target.count, source.baseAddress, source.count, Int32(level))
                }
            }
            guard ZSTD_isError(size) == 0, size < input.count else { return (input, 0) }
            output.removeLast(bound - size)
            return (output, 2)
        }
        #else
        return (input, 0)
        #endif
    }

    /// The block `input` was compressed from, or nil when it does not decompress to
    /// exactly `uncompressedBytes` (damage, or a codec this build lacks).
    static func decompress(_ input: ArraySlice<UInt8>, codec: UInt8, uncompressedBytes: Int, context: CodecContext? = nil) -> [UInt8]? {
        guard uncompressedBytes >= 0, uncompressedBytes <= uncompressedBytesMax else { return nil }
        switch codec {
        case 0:
            return input.count == uncompressedBytes ? Array(input) : nil
        #if Compression
        case 1:
            guard uncompressedBytes > 0, input.count > 0 else { return nil }
            var output = [UInt8](repeating: 0, count: uncompressedBytes)
            let size = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { target in
                    LZ4_decompress_safe(
                        source.baseAddress!.assumingMemoryBound(to: CChar.self),
                        target.baseAddress!.assumingMemoryBound(to: CChar.self),
                        Int32(source.count), Int32(target.count))
                }
            }
            return Int(size) == uncompressedBytes ? output : nil
        case 2:
            guard uncompressedBytes > 0, input.count > 0 else { return nil }
            var output = [UInt8](repeating: 0, count: uncompressedBytes)
            if let context, context.zstdDecompress == nil { context.zstdDecompress = ZSTD_createDCtx() }
            let size = output.withUnsafeMutableBytes { target in
                input.withUnsafeBytes { source in
                    if let dctx = context?.zstdDecompress {
                        return ZSTD_decompressDCtx(dctx, target.baseAddress, target.count, source.baseAddress, source.count)
                    }
                    return ZSTD_decompress(target.baseAddress, target.count, source.baseAddress, source.count)
                }
            }
            return ZSTD_isError(size) == 0 && size == uncompressedBytes ? output : nil
        #endif
        default:
            return nil
        }
    }
}
