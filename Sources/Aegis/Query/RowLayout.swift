/// Where SQL data lives in the ordered key space of the store, and how a row becomes
/// bytes. Every key starts with one byte saying what it is:
///
/// - `0x01` the catalog (one key);
/// - `0x02 table-id` + key of the primary key values → the row;
/// - `0x03 index-id` + key of the indexed values + key of the primary key → empty;
/// - `0x04 table-id constraint-ordinal` + key of the values + primary key → empty (UNIQUE);
/// - `0x05 table-id` → the next row id of a table without a primary key.
///
/// Ids are never reused, so a dropped table's keys can never be read as another's.
public enum RowLayout {
    static let catalogKey: [UInt8] = [0x01]

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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(row.count * 9)
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
                bytes.append(contentsOf: text.utf8)
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
        // `offset` counts from the slice's start, wherever that is in its array.
        let base = stored.startIndex
        let bytes = stored
        var offset = 0
        func damaged() -> SQLError { SQLError(.storage, "a stored row does not decode; the data is damaged") }
        func varint() throws(SQLError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw damaged() }
                let byte = bytes[base + offset]
                offset += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
            }
        }
        func take(_ count: UInt64) throws(SQLError) -> ArraySlice<UInt8> {
            guard count <= UInt64(bytes.count - offset) else { throw damaged() }
            let slice = bytes[(base + offset)..<(base + offset + Int(count))]
            offset += Int(count)
            return slice
        }
        let count = try varint()
        guard count <= UInt64(bytes.count) else { throw damaged() }
        var row: [SQLValue] = []
        row.reserveCapacity(Int(count))
        for position in 0..<Int(count) {
            guard offset < bytes.count else { throw damaged() }
            let tag = bytes[base + offset]
            offset += 1
            if let needed, position < needed.count, !needed[position] {
                switch tag {
                case nullTag: break
                case integerTag: _ = try varint()
                case realTag: _ = try take(8)
                case textTag, blobTag: _ = try take(try varint())
                default: throw damaged()
                }
                row.append(.null)
                continue
            }
            switch tag {
            case nullTag:
                row.append(.null)
            case integerTag:
                let zigzag = try varint()
                row.append(.integer(Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)))
            case realTag:
                var bits: UInt64 = 0
                for (index, byte) in try take(8).enumerated() { bits |= UInt64(byte) << UInt64(index * 8) }
                row.append(.real(Double(bitPattern: bits)))
            case textTag:
                row.append(.text(String(decoding: try take(try varint()), as: UTF8.self)))
            case blobTag:
                row.append(.blob(Array(try take(try varint()))))
            default:
                throw damaged()
            }
        }
        guard offset == bytes.count else { throw damaged() }
        return row
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
