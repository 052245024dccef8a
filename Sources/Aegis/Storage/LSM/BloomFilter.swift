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
                var probe = Probe(hash, bits: bits)
                for _ in 0..<probes {
                    buffer[probe.bit >> 3] |= 1 << UInt8(probe.bit & 7)
                    probe.advance()
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
            var probe = Probe(hash, bits: bits)
            for _ in 0..<probes {
                if buffer[probe.bit >> 3] & (1 << UInt8(probe.bit & 7)) == 0 { return false }
                probe.advance()
            }
            return true
        }
    }

    /// The bits a key sets: probe i is bit (low + i × step) mod `bits`, where low and
    /// step (odd) are the hash's halves. Below 2^32 each and with at most 30 probes, the
    /// sum never wraps, so each next bit is the last plus step mod `bits`: two
    /// divisions per key instead of one per probe.
    private struct Probe {
        private(set) var bit: Int
        private let step: Int
        private let bits: Int

        @inline(__always)
        init(_ hash: UInt64, bits: UInt64) {
            self.bits = Int(bits)
            bit = Int((hash & 0xFFFF_FFFF) % bits)
            step = Int(((hash >> 32) | 1) % bits)
        }

        @inline(__always)
        mutating func advance() {
            bit += step
            if bit >= bits { bit -= bits }
        }
    }
}
