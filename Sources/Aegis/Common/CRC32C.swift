import CCRC32C

/// CRC-32C (Castagnoli), the checksum on every persistent record: the reflected
/// polynomial 0x82F63B78 used by iSCSI, ext4 and RocksDB. With the SSE4.2 crc32
/// instruction where the CPU has it (Sources/CCRC32C), otherwise in software, slicing
/// by eight (eight bytes per step through eight tables); both give the same bits.
public enum CRC32C {
    /// Whether this CPU computes it in hardware.
    public static let usesHardware = aegis_crc32c_hardware_available() != 0

    /// Eight 256-entry tables, one after the other: table k gives the CRC of a byte
    /// followed by k zero bytes.
    @usableFromInline static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            tables[index] = crc
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The checksum of `bytes`, continuing from `initial` (the checksum of what came before).
    @inlinable
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, continuing initial: UInt32 = 0) -> UInt32
    where Bytes.Element == UInt8 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(buffer: UnsafeRawBufferPointer($0), continuing: initial) }) {
            return crc
        }
        return Array(bytes).withUnsafeBytes { checksum(buffer: $0, continuing: initial) }
    }

    public static func checksum(buffer: UnsafeRawBufferPointer, continuing initial: UInt32 = 0) -> UInt32 {
        guard usesHardware, let base = buffer.baseAddress else { return software(buffer: buffer, continuing: initial) }
        return ~aegis_crc32c_hardware(~initial, base, buffer.count)
    }

    /// The table-driven computation (what machines without the instruction run, and
    /// what tests compare the hardware against).
    public static func software(buffer: UnsafeRawBufferPointer, continuing initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        tables.withUnsafeBufferPointer { table in
            var offset = 0
            let count = buffer.count
            while offset + 8 <= count {
                let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let low = crc ^ UInt32(truncatingIfNeeded: word)
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                offset += 8
            }
            while offset < count {
                crc = table[Int((crc ^ UInt32(buffer[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return ~crc
    }
}
