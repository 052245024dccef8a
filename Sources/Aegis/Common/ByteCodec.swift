/// Little-endian binary encoding for messages and records. Writers append; readers
/// consume from a cursor and throw `DecodeError` on short or malformed input, so bytes
/// from the network or the disk can never crash a node.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func write(_ value: UInt16) {
        writeLittleEndian(UInt64(value), byteCount: 2)
    }

    public mutating func write(_ value: UInt32) {
        writeLittleEndian(UInt64(value), byteCount: 4)
    }

    public mutating func write(_ value: UInt64) {
        writeLittleEndian(value, byteCount: 8)
    }

    public mutating func write(_ value: Int64) {
        writeLittleEndian(UInt64(bitPattern: value), byteCount: 8)
    }

    /// A length-prefixed (UInt32) run of bytes.
    public mutating func write(lengthPrefixed payload: [UInt8]) {
        precondition(payload.count <= Int(UInt32.max), "payload too large to length-prefix")
        write(UInt32(payload.count))
        bytes.append(contentsOf: payload)
    }

    public mutating func write(_ text: String) {
        write(lengthPrefixed: Array(text.utf8))
    }

    public mutating func write(raw payload: [UInt8]) {
        bytes.append(contentsOf: payload)
    }

    /// Bytes written so far.
    public var count: Int { bytes.count }

    /// Replaces the four bytes at `offset` (already written) with `value`.
    public mutating func overwrite(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<4 { bytes[offset + index] = raw[index] }
        }
    }

    /// Replaces the eight bytes at `offset` (already written) with `value`.
    public mutating func overwrite(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<8 { bytes[offset + index] = raw[index] }
        }
    }

    private mutating func writeLittleEndian(_ value: UInt64, byteCount: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            // A rebased buffer, not `raw.prefix(_:)`: a slice takes the generic (slow) append.
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<byteCount]))
        }
    }
}

public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case invalid(String)

    public var description: String {
        switch self {
        case let .truncated(needed, available):
            return "input ends early: needed \(needed) bytes, \(available) left"
        case let .invalid(reason):
            return "input is malformed: \(reason)"
        }
    }
}

public struct ByteReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readUInt8() throws(DecodeError) -> UInt8 {
        UInt8(try readLittleEndian(byteCount: 1))
    }

    public mutating func readUInt16() throws(DecodeError) -> UInt16 {
        UInt16(try readLittleEndian(byteCount: 2))
    }

    public mutating func readUInt32() throws(DecodeError) -> UInt32 {
        UInt32(try readLittleEndian(byteCount: 4))
    }

    public mutating func readUInt64() throws(DecodeError) -> UInt64 {
        try readLittleEndian(byteCount: 8)
    }

    public mutating func readInt64() throws(DecodeError) -> Int64 {
        Int64(bitPattern: try readLittleEndian(byteCount: 8))
    }

    /// A run written by `write(lengthPrefixed:)`, refused when longer than `maximumCount`.
    public mutating func readLengthPrefixed(maximumCount: Int) throws(DecodeError) -> [UInt8] {
        let count = Int(try readUInt32())
        guard count <= maximumCount else {
            throw .invalid("length \(count) exceeds the limit of \(maximumCount)")
        }
        return try readRaw(count: count)
    }

    public mutating func readString(maximumCount: Int) throws(DecodeError) -> String {
        let utf8 = try readLengthPrefixed(maximumCount: maximumCount)
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw .invalid("string is not valid UTF-8")
        }
        return text
    }

    public mutating func readRaw(count: Int) throws(DecodeError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw .truncated(needed: count, available: remaining)
        }
        let slice = Array(bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    private mutating func readLittleEndian(byteCount: Int) throws(DecodeError) -> UInt64 {
        guard byteCount <= remaining else {
            throw .truncated(needed: byteCount, available: remaining)
        }
        let start = offset
        offset += byteCount
        return bytes.withUnsafeBytes { raw in
            switch byteCount {
            case 8: return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt64.self))
            case 4: return UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
            case 2: return UInt64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt16.self)))
            default:
                var value: UInt64 = 0
                for index in 0..<byteCount {
                    value |= UInt64(raw[start + index]) << (8 * UInt64(index))
                }
                return value
            }
        }
    }
}
