/// A Bloom filter over a table's keys, so a point read skips tables that cannot hold
/// the key. Stored as the bit array followed by one byte: the number of probes.
/// Probes come from one stable 64-bit hash by double hashing (the two halves), so the
/// filter is the same in every process.
enum BloomFilter {
    static func hash(_ key: [UInt8]) -> UInt64 {
        StableHash64.digest(key)
    }

    /// A filter for keys with these hashes at `bitsPerKey` bits each (about 1% false
    /// positives at 10).
    static func build(hashes: [UInt64], bitsPerKey: Int) -> [UInt8] {
        let probes = UInt8(min(30, max(1, Int(Double(bitsPerKey) * 0.69))))
        let bitCount = max(64, hashes.count * bitsPerKey)
        let byteCount = (bitCount + 7) / 8
        var filter = [UInt8](repeating: 0, count: byteCount + 1)
        let bits = UInt64(byteCount * 8)
        filter.withUnsafeMutableBufferPointer { buffer in
            for hash in hashes {
                var position = hash & 0xFFFF_FFFF
                let step = (hash >> 32) | 1
                for _ in 0..<probes {
                    let bit = Int(position % bits)
                    buffer[bit >> 3] |= 1 << UInt8(bit & 7)
                    position &+= step
                }
            }
        }
        filter[byteCount] = probes
        return filter
    }

    /// False only if the key is certainly absent. A malformed filter answers true.
    static func mayContain(_ filter: [UInt8], hash: UInt64) -> Bool {
        guard filter.count >= 2 else { return true }
        let byteCount = filter.count - 1
        let probes = filter[byteCount]
        guard probes >= 1, probes <= 30 else { return true }
        let bits = UInt64(byteCount * 8)
        return filter.withUnsafeBufferPointer { buffer in
            var position = hash & 0xFFFF_FFFF
            let step = (hash >> 32) | 1
            for _ in 0..<probes {
                let bit = Int(position % bits)
                if buffer[bit >> 3] & (1 << UInt8(bit & 7)) == 0 { return false }
                position &+= step
            }
            return true
        }
    }
}
