/// Where SQL data lives in the ordered key space of the store, and how a row becomes
/// bytes. Every key starts with one byte saying what it is:
///
/// - `0x01` the catalog (one key);
/// - `0x02 table-id` + key of the primary key values → the row (a hash-partitioned
///   table puts one bucket byte, a stable hash of that key, between the two);
/// - `0x03 index-id` + key of the indexed values + key of the primary key → empty;
/// - `0x04 table-id constraint-ordinal` + key of the values + primary key → empty (UNIQUE);
/// - `0x05 table-id` → the next row id of a table without a primary key;
/// - `0x06 client-id` → on the sharded store, a client's `RequestRecord` (not SQL's).
///
/// Ids are never reused, so a dropped table's keys can never be read as another's.
public enum RowLayout {
    static let catalogKey: [UInt8] = [0x01]

    /// How many leading bytes keys share when they sit close: the kind, the id, and
    /// then a hash-partitioned table's bucket (a UNIQUE constraint's ordinal, or the
    /// first byte of a value's key otherwise). Misses sharing these bytes are read as
    /// one span; a shorter prefix would read across a hashed table's buckets, most of
    /// the table, to find keys inserted in order.
    static let neighbourhoodPrefixBytes = 6

    static func tablePrefix(_ table: UInt32) -> [UInt8] { prefix(0x02, table) }
    static func indexPrefix(_ index: UInt32) -> [UInt8] { prefix(0x03, index) }
    static func uniquePrefix(_ table: UInt32, _ ordinal: Int) -> [UInt8] {
        prefix(0x04, table) + [UInt8(truncatingIfNeeded: ordinal >> 8), UInt8(truncatingIfNeeded: ordinal)]
    }
    static func rowIDKey(_ table: UInt32) -> [UInt8] { prefix(0x05, table) }

    private static func prefix(_ kind: UInt8, _ id: UInt32) -> [UInt8] {
        [kind, UInt8(truncatingIfNeeded: id >> 24), UInt8(truncatingIfNeeded: id >> 16),
         UInt8(truncatingIfNeeded: id >> 8), UInt8(truncatingIfNeeded: id)]
    }

    /// The first key after every key that starts with `prefix` (nil: there is none).
    static func successor(_ prefix: [UInt8]) -> [UInt8]? {
        var key = prefix
        while let last = key.last {
            if last < 0xFF {
                key[key.count - 1] = last + 1
                return key
            }
            key.removeLast()
        }
        return nil
    }

    // MARK: rows

    private static let nullTag: UInt8 = 0, integerTag: UInt8 = 1, realTag: UInt8 = 2, textTag: UInt8 = 3, blobTag: UInt8 = 4

    static func encode(_ row: [SQLValue]) -> [UInt8] {
        var capacity = 10 * row.count + 2
        for value in row {
            switch value {
            case let .text(text): capacity += text.utf8.count
            case let .blob(blob): capacity += blob.count
            default: break
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        appendVarint(UInt64(row.count), to: &bytes)
        for value in row {
            switch value {
            case .null:
                bytes.append(nullTag)
            case let .integer(number):
                bytes.append(integerTag)
                appendVarint(UInt64(bitPattern: (number << 1) ^ (number >> 63)), to: &bytes)
            case let .real(number):
                bytes.append(realTag)
                let bits = number.bitPattern
                for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
            case let .text(text):
                bytes.append(textTag)
                appendVarint(UInt64(text.utf8.count), to: &bytes)
                var text = text
                text.withUTF8 { bytes.append(contentsOf: $0) }
            case let .blob(blob):
                bytes.append(blobTag)
                appendVarint(UInt64(blob.count), to: &bytes)
                bytes.append(contentsOf: blob)
            }
        }
        return bytes
    }

    /// The bytes `encode(row)` makes.
    public static func encodedSize(_ row: [SQLValue]) -> Int { encode(row).count }

    /// The row's values; damaged bytes are a storage error, never a crash. With
    /// `needed`, values whose flag is false are skipped (left NULL): a query that reads
    /// two columns of ten does not build the other eight.
    static func decode(_ bytes: [UInt8], needed: [Bool]? = nil) throws(SQLError) -> [SQLValue] {
        try decode(bytes[...], needed: needed)
    }

    static func decode(_ stored: ArraySlice<UInt8>, needed: [Bool]? = nil) throws(SQLError) -> [SQLValue] {
        guard let row = stored.withUnsafeBytes({ decode(raw: $0, needed: needed) }) else {
            throw SQLError(.storage, "a stored row does not decode; the data is damaged")
        }
        return row
    }

    /// The row in `raw`, or nil when the bytes do not decode (every read is bounds-checked).
    private static func decode(raw: UnsafeRawBufferPointer, needed: [Bool]?) -> [SQLValue]? {
        guard let (count, first) = Varint.read(raw, 0, end: raw.count), count <= UInt64(raw.count) else { return nil }
        var offset = first
        var row: [SQLValue] = []
        row.reserveCapacity(Int(count))
        for position in 0..<Int(count) {
            let wanted = needed.map { position >= $0.count || $0[position] } ?? true
            guard let value = readValue(raw, &offset, wanted: wanted) else { return nil }
            row.append(value)
        }
        return offset == raw.count ? row : nil
    }

    /// Some of a stored row's values, placed as a projection wants them: the value of
    /// stored position `p` goes to `row[slots[p]]` (no slot, or a negative one: not
    /// built), in a row of `width` values that starts all NULL. Also gives how many
    /// values the row stores (a row stored before an ADD COLUMN has fewer). Damaged
    /// bytes are a storage error, never a crash.
    static func decode(_ stored: ArraySlice<UInt8>, slots: [Int], width: Int) throws(SQLError) -> (row: [SQLValue], storedCount: Int) {
        let decoded = stored.withUnsafeBytes { raw -> (row: [SQLValue], storedCount: Int)? in
            guard let (count, first) = Varint.read(raw, 0, end: raw.count), count <= UInt64(raw.count) else { return nil }
            var offset = first
            // (Appended, not `init(repeating:count:)`, which looks up generic metadata
            // on every call here.)
            var row: [SQLValue] = []
            row.reserveCapacity(width)
            for _ in 0..<width { row.append(.null) }
            for position in 0..<Int(count) {
                let slot = position < slots.count ? slots[position] : -1
                guard let value = readValue(raw, &offset, wanted: slot >= 0) else { return nil }
                if slot >= 0 { row[slot] = value }
            }
            return offset == raw.count ? (row, Int(count)) : nil
        }
        guard let decoded else { throw SQLError(.storage, "a stored row does not decode; the data is damaged") }
        return decoded
    }

    /// The value at `offset`, moving past it; nil when the bytes there do not decode.
    /// An unwanted value is skipped and comes back NULL, never built.
    @inline(__always)
    private static func readValue(_ raw: UnsafeRawBufferPointer, _ offset: inout Int, wanted: Bool) -> SQLValue? {
        let end = raw.count
        guard offset < end else { return nil }
        let tag = raw[offset]
        offset += 1
        switch tag {
        case nullTag:
            return .null
        case integerTag:
            guard let (zigzag, after) = Varint.read(raw, offset, end: end) else { return nil }
            offset = after
            return wanted ? .integer(Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)) : .null
        case realTag:
            guard end - offset >= 8 else { return nil }
            let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
            return wanted ? .real(Double(bitPattern: bits)) : .null
        case textTag, blobTag:
            guard let (length, after) = Varint.read(raw, offset, end: end), length <= UInt64(end - after) else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: raw[after..<(after + Int(length))])
            offset = after + Int(length)
            if !wanted { return .null }
            return tag == textTag ? .text(String(decoding: bytes, as: UTF8.self)) : .blob(Array(bytes))
        default:
            return nil
        }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
