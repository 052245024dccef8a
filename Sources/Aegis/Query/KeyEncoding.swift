/// Order-preserving keys for SQL values: the bytes of two keys compare (as unsigned
/// bytes, as the LSM tree orders keys) exactly as SQLite orders the values — NULL, then
/// numbers (integers and reals by value, so 1 and 1.0 give the same key), then text by
/// its UTF-8 bytes, then blobs. Tuples are the concatenation of their parts; a part
/// meant to sort descending has every byte inverted. Keys are one-way: rows keep the
/// values themselves.
public enum KeyEncoding {
    static let nullTag: UInt8 = 0x05
    static let notANumberTag: UInt8 = 0x10
    static let numberTag: UInt8 = 0x15
    static let textTag: UInt8 = 0x25
    static let blobTag: UInt8 = 0x35

    public static func append(_ value: SQLValue, descending: Bool = false, to key: inout [UInt8]) {
        let start = key.count
        switch value {
        case .null:
            key.append(nullTag)
        case let .integer(number):
            if number.magnitude <= 1 << 53 {
                // Exactly a double: no offset.
                appendNumber(floor: Double(number), offset: 0, to: &key)
            } else {
                appendNumber(floor: floorDouble(number), offset: offsetAbove(floorDouble(number), number), to: &key)
            }
        case let .real(number):
            if number.isNaN {
                key.append(notANumberTag)
            } else {
                appendNumber(floor: number == 0 ? 0 : number, offset: 0, to: &key)
            }
        case let .text(text):
            key.append(textTag)
            appendEscaped(text.utf8, to: &key)
        case let .blob(bytes):
            key.append(blobTag)
            appendEscaped(bytes, to: &key)
        }
        if descending {
            for index in start..<key.count { key[index] = ~key[index] }
        }
    }

    public static func key(_ values: [SQLValue], descending: [Bool] = []) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(11 * values.count)
        for (index, value) in values.enumerated() {
            append(value, descending: index < descending.count && descending[index], to: &key)
        }
        return key
    }

    /// A number as the largest double not above it, then how far above that double it
    /// is (integers beyond 2^53 fall between doubles; the gap is under 2^11 in Int64).
    private static func appendNumber(floor: Double, offset: UInt16, to key: inout [UInt8]) {
        key.append(numberTag)
        var bits = floor.bitPattern
        bits = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
        for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        key.append(UInt8(offset >> 8))
        key.append(UInt8(offset & 0xFF))
    }

    /// The largest double that is not above `number`.
    static func floorDouble(_ number: Int64) -> Double {
        let nearest = Double(number)
        return SQLValue.order(.real(nearest), .integer(number)) > 0 ? nearest.nextDown : nearest
    }

    static func offsetAbove(_ floor: Double, _ number: Int64) -> UInt16 {
        // floor lies within 2^11 of number and both fit in Int64 arithmetic here.
        if floor >= 9.223372036854775807e18 { return 0 }
        let base = Int64(floor)
        return UInt16(clamping: number &- base)
    }

    /// 0x00 becomes 0x00 0xFF; the part ends with 0x00 0x01, which sorts before any
    /// continuation, so a prefix sorts first and parts never run into each other.
    private static func appendEscaped<Bytes: Sequence<UInt8>>(_ bytes: Bytes, to key: inout [UInt8]) {
        for byte in bytes {
            key.append(byte)
            if byte == 0 { key.append(0xFF) }
        }
        key.append(0x00)
        key.append(0x01)
    }
}
