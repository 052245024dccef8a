/// A cursor over versions in `VersionedKey` order (key ascending, timestamp
/// descending), the shape every sorted source in the tree shares: memtables, blocks,
/// tables, levels and their merge. Reading a table can find damage, so moving throws.
public protocol VersionCursor: AnyObject {
    var isValid: Bool { get }
    func seekToFirst() throws(StorageError)
    /// To the first version at or after (key, timestamp).
    func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError)
    func next() throws(StorageError)
    /// The current version's key, timestamp and value (nil for a tombstone); only
    /// while `isValid`.
    var key: [UInt8] { get }
    var timestamp: Timestamp { get }
    var value: [UInt8]? { get }
    /// Whether the current version is a deletion (without copying out a value).
    var isTombstone: Bool { get }
}

/// Little-endian base-128 integers, as table blocks store lengths.
enum Varint {
    @inline(__always)
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// The value at `offset` and the offset after it, or nil if it runs past `end` or
    /// over ten bytes.
    @inline(__always)
    static func read(_ bytes: UnsafeRawBufferPointer, _ offset: Int, end: Int) -> (UInt64, Int)? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var position = offset
        while position < end, shift < 64 {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return (result, position) }
            shift += 7
        }
        return nil
    }
}
