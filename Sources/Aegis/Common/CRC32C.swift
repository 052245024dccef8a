/// CRC-32C (Castagnoli), the checksum on every persistent record. Software, table
/// driven; the polynomial is the reflected 0x82F63B78 used by iSCSI, ext4 and RocksDB.
public enum CRC32C {
    @usableFromInline static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
        }
        return crc
    }

    /// The checksum of `bytes`, continuing from `initial` (the checksum of what came before).
    @inlinable
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, continuing initial: UInt32 = 0) -> UInt32
    where Bytes.Element == UInt8 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(buffer: UnsafeRawBufferPointer($0), continuing: initial) }) {
            return crc
        }
        return Array(bytes).withUnsafeBytes { checksum(buffer: $0, continuing: initial) }
    }

    @inlinable
    public static func checksum(buffer: UnsafeRawBufferPointer, continuing initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        table.withUnsafeBufferPointer { table in
            for byte in buffer {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return ~crc
    }
}
