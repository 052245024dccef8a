@testable import Aegis
import Testing

/// A small deterministic generator for test data.
struct TestRandom {
    var state: UInt64

    init(seed: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Realistic rows: JSON-ish records with repeated field names and varied values.
func sampleRow(_ index: Int) -> [UInt8] {
    let cities = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quebec", "Tartu", "Perth"]
    let text = "{\"id\":\(index),\"name\":\"customer-\(index * 7919 % 100_000)\",\"city\":\"\(cities[index % cities.count])\","
        + "\"balance\":\(index * 37 % 10_000).\(index % 100),\"active\":\(index % 3 != 0),\"tags\":[\"t\(index % 11)\",\"t\(index % 5)\"]}"
    return bytes(text)
}

@Suite struct ArenaTests {
    @Test func allocationsAreAlignedAndCounted() {
        let arena = Arena(chunkBytes: 1024)
        var pointers: [UnsafeMutableRawPointer] = []
        for size in [1, 7, 8, 13, 100, 3] {
            let pointer = arena.allocate(byteCount: size, alignment: 8)
            #expect(Int(bitPattern: pointer) % 8 == 0)
            pointers.append(pointer)
        }
        #expect(arena.bytesReserved == 1024)
        #expect(arena.bytesUsed >= 132 && arena.bytesUsed <= 132 + 6 * 7)
        // A large request that does not fit gets a chunk of its own; the current chunk
        // stays in use for small ones.
        _ = arena.allocate(byteCount: 950)
        #expect(arena.bytesReserved == 1024 + 950)
        let small = arena.allocate(byteCount: 8)
        #expect(small - pointers[0] < 1024)
    }
}

@Suite struct BlockCacheTests {
    /// Under a random load of inserts and lookups the charged bytes never pass the
    /// budget, and both segments hold what an independent model of a segmented LRU
    /// holds, in the same order.
    @Test func budgetHoldsUnderLoadAndMatchesASegmentedLRUModel() {
        let budget = 64 * 1024
        let cache = BlockCache(budgetBytes: budget)
        typealias Entry = (key: BlockCache.Key, size: Int)
        // Least recently used first.
        var probation: [Entry] = []
        var protected: [Entry] = []
        func charged(_ entries: [Entry]) -> Int { entries.reduce(0) { $0 + $1.size + BlockCache.entryOverheadBytes } }
        var random = TestRandom(seed: 7)
        var maximum = 0
        for step in 0..<20_000 {
            let key = BlockCache.Key(file: UInt64(random.below(8)), offset: UInt64(random.below(64)) * 4096)
            if random.below(3) == 0 {
                let size = 100 + random.below(6000)
                cache.insert(key, bytes: [UInt8](repeating: UInt8(step & 0xFF), count: size))
                probation.removeAll { $0.key == key }
                protected.removeAll { $0.key == key }
                let charge = size + BlockCache.entryOverheadBytes
                while charged(probation) + charged(protected) + charge > budget {
                    if !probation.isEmpty { probation.removeFirst() } else { protected.removeFirst() }
                }
                probation.append((key, size))
            } else {
                let found = cache.get(key)
                if let index = protected.firstIndex(where: { $0.key == key }) {
                    #expect(found?.count == protected[index].size)
                    protected.append(protected.remove(at: index))
                } else if let index = probation.firstIndex(where: { $0.key == key }) {
                    #expect(found?.count == probation[index].size)
                    protected.append(probation.remove(at: index))
                    while charged(protected) > cache.protectedBudgetBytes { probation.append(protected.removeFirst()) }
                } else {
                    #expect(found == nil)
                }
            }
            #expect(cache.chargedBytes <= budget)
            #expect(cache.chargedBytes == charged(probation) + charged(protected))
            #expect(cache.protectedBytes == charged(protected) && cache.protectedBytes <= cache.protectedBudgetBytes)
            maximum = max(maximum, cache.chargedBytes)
        }
        #expect(cache.keys(protected: false) == probation.map(\.key) && cache.keys(protected: true) == protected.map(\.key))
        #expect(cache.chargedBytesPeak == maximum)
        #expect(maximum > budget * 3 / 4, "the load should fill the cache")
        #expect(cache.evictions > 1000 && cache.hits > 0)
    }

    /// Blocks read twice survive a scan of many more blocks than fit, read once each;
    /// under plain LRU the scan would evict them all.
    @Test func aLongScanDoesNotFlushBlocksInUse() {
        let block = 1000
        let cache = BlockCache(budgetBytes: 100 * (block + BlockCache.entryOverheadBytes))
        let hot = (0..<40).map { BlockCache.Key(file: 1, offset: UInt64($0)) }
        for key in hot { cache.insert(key, bytes: [UInt8](repeating: 1, count: block)) }
        for key in hot { #expect(cache.get(key) != nil) }
        for offset in 0..<1000 {
            let key = BlockCache.Key(file: 2, offset: UInt64(offset))
            if cache.get(key) == nil { cache.insert(key, bytes: [UInt8](repeating: 2, count: block)) }
        }
        #expect(hot.allSatisfy { cache.get($0) != nil }, "the scan evicted blocks in use")
        #expect(cache.chargedBytes <= cache.budgetBytes)
    }

    @Test func aBlockLargerThanTheBudgetIsNotCached() {
        let cache = BlockCache(budgetBytes: 1000)
        cache.insert(.init(file: 1, offset: 0), bytes: [UInt8](repeating: 1, count: 2000))
        #expect(cache.count == 0 && cache.chargedBytes == 0)
    }

    @Test func removingAFileDropsItsBlocks() {
        let cache = BlockCache(budgetBytes: 100_000)
        for offset in 0..<10 { cache.insert(.init(file: UInt64(offset % 2), offset: UInt64(offset)), bytes: [1, 2, 3]) }
        cache.removeAll(file: 1)
        #expect(cache.count == 5)
        #expect(cache.get(.init(file: 1, offset: 1)) == nil)
        #expect(cache.get(.init(file: 0, offset: 2)) == [1, 2, 3])
    }
}

@Suite struct BlockCompressionTests {
    let rows: [UInt8] = (0..<200).flatMap { sampleRow($0) }

    @Test(arguments: [BlockCompression.lz4, .zstd(level: 1), .zstd(level: 3), .zstd(level: 19)])
    func compressesRowsAndRestoresThem(_ compression: BlockCompression) throws {
        let (compressed, codec) = BlockCodec.compress(rows, with: compression)
        #expect(codec == compression.codec, "this build must have LZ4 and Zstd (the Compression trait)")
        #expect(compressed.count < rows.count / 2)
        #expect(BlockCodec.decompress(compressed[...], codec: codec, uncompressedBytes: rows.count) == rows)
    }

    @Test func incompressibleInputIsStoredAsIs() {
        var random = TestRandom(seed: 3)
        let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let (stored, codec) = BlockCodec.compress(noise, with: .lz4)
        #expect(codec == 0 && stored == noise)
    }

    @Test func damagedInputNeverCrashesAndIsRefused() {
        var random = TestRandom(seed: 5)
        for compression in [BlockCompression.lz4, .zstd(level: 3)] {
            let (compressed, codec) = BlockCodec.compress(rows, with: compression)
            var refused = 0
            for _ in 0..<200 {
                var damaged = compressed
                damaged[random.below(damaged.count)] ^= UInt8(1 << random.below(8))
                let restored = BlockCodec.decompress(damaged[...], codec: codec, uncompressedBytes: rows.count)
                if restored == nil { refused += 1 }
            }
            // Codecs catch some damage themselves (the block checksum catches the rest).
            #expect(refused > 0)
        }
        #expect(BlockCodec.decompress([1, 2, 3][...], codec: 9, uncompressedBytes: 3) == nil)
        #expect(BlockCodec.decompress([1, 2, 3][...], codec: 1, uncompressedBytes: BlockCodec.uncompressedBytesMax + 1) == nil)
    }

    @Test func namesParse() {
        #expect(BlockCompression(parsing: "zstd:7") == .zstd(level: 7))
        #expect(BlockCompression(parsing: "zstd") == .zstd(level: 3))
        #expect(BlockCompression(parsing: "lz4") == .lz4)
        #expect(BlockCompression(parsing: "zstd:40") == nil)
        #expect(BlockCompression(parsing: "gzip") == nil)
    }
}

@Suite struct BlockFormatTests {
    /// Entries of `count` keys with two versions each, in order.
    func entries(_ count: Int) -> [(key: [UInt8], timestamp: Timestamp, value: [UInt8]?)] {
        (0..<count).flatMap { index -> [(key: [UInt8], timestamp: Timestamp, value: [UInt8]?)] in
            let key = bytes("user/\(1000 + index)")
            return [(key, Timestamp(20 + index), index % 5 == 0 ? nil : sampleRow(index)), (key, Timestamp(10), sampleRow(index + 50_000))]
        }
    }

    @Test func everyEntryIsFoundBySeekAndInOrderByIteration() throws {
        let source = entries(300)
        var builder = BlockBuilder(restartInterval: 16)
        for entry in source { builder.add(key: entry.key, timestamp: entry.timestamp, value: entry.value) }
        let block = try #require(Block(builder.finish()))
        let cursor = BlockCursor(block, fileName: "test")
        try cursor.seekToFirst()
        var index = 0
        while cursor.isValid {
            #expect(cursor.key == source[index].key && cursor.timestamp == source[index].timestamp)
            #expect(cursor.value == source[index].value)
            try cursor.next()
            index += 1
        }
        #expect(index == source.count)
        for entry in source {
            try cursor.seek(entry.key, timestamp: entry.timestamp)
            #expect(cursor.key == entry.key && cursor.timestamp == entry.timestamp)
        }
        // A timestamp between two versions finds the older one; past the end, nothing.
        try cursor.seek(bytes("user/1001"), timestamp: 15)
        #expect(cursor.key == bytes("user/1001") && cursor.timestamp == 10)
        try cursor.seek(bytes("zzz"), timestamp: 0)
        #expect(!cursor.isValid)
    }

    @Test func sealedBlocksCheckTheirChecksum() throws {
        var builder = BlockBuilder(restartInterval: 4)
        for entry in entries(50) { builder.add(key: entry.key, timestamp: entry.timestamp, value: entry.value) }
        let raw = builder.finish()
        for compression in [BlockCompression.none, .lz4, .zstd(level: 3)] {
            let (stored, _) = BlockBuilder.seal(raw, compression: compression)
            #expect(BlockBuilder.unseal(stored, verifyChecksum: true) == raw)
            var damaged = stored
            damaged[damaged.count / 2] ^= 0x10
            #expect(BlockBuilder.unseal(damaged, verifyChecksum: true) == nil)
        }
    }

    /// Bytes flipped anywhere in a decoded block give errors or wrong entries, never a
    /// crash: what a reader meets when a checksum is ignored.
    @Test func damagedBlocksNeverCrashTheCursor() throws {
        var builder = BlockBuilder(restartInterval: 4)
        for entry in entries(40) { builder.add(key: entry.key, timestamp: entry.timestamp, value: entry.value) }
        let raw = builder.finish()
        var random = TestRandom(seed: 11)
        for _ in 0..<2000 {
            var damaged = raw
            for _ in 0..<(1 + random.below(3)) { damaged[random.below(damaged.count)] = UInt8(truncatingIfNeeded: random.next()) }
            guard let block = Block(damaged) else { continue }
            let cursor = BlockCursor(block, fileName: "test")
            do {
                try cursor.seekToFirst()
                var steps = 0
                while cursor.isValid && steps < 1000 {
                    _ = cursor.value
                    try cursor.next()
                    steps += 1
                }
                try cursor.seek(bytes("user/1010"), timestamp: 5)
            } catch {
                #expect(error.description.contains("does not decode"))
            }
        }
    }
}

@Suite struct BloomFilterTests {
    @Test func noFalseNegativesAndFewFalsePositives() {
        let keys = (0..<5000).map { bytes("key-\($0)") }
        let filter = BloomFilter.build(hashes: keys.map(BloomFilter.hash), bitsPerKey: 10)
        for key in keys { #expect(BloomFilter.mayContain(filter, hash: BloomFilter.hash(key))) }
        let falsePositives = (0..<10_000).filter { BloomFilter.mayContain(filter, hash: BloomFilter.hash(bytes("other-\($0)"))) }.count
        #expect(falsePositives < 200, "\(falsePositives) false positives in 10,000 (about 1% expected)")
    }

    /// The filter's bits are part of the table format: they stay those of the
    /// definition (probe i sets bit (low + i × step) mod bits), however it is computed.
    @Test func bitsFollowTheStoredFormat() {
        var random = TestRandom(seed: 5)
        for keyCount in [1, 7, 64, 1000, 4099] {
            let hashes = (0..<keyCount).map { _ in random.next() }
            for bitsPerKey in [1, 6, 10, 23] {
                let probes = UInt64(min(30, max(1, Int(Double(bitsPerKey) * 0.69))))
                let byteCount = (max(64, keyCount * bitsPerKey) + 7) / 8
                var expected = [UInt8](repeating: 0, count: byteCount + 1)
                for hash in hashes {
                    for probe in 0..<probes {
                        let bit = Int(((hash & 0xFFFF_FFFF) &+ probe &* ((hash >> 32) | 1)) % UInt64(byteCount * 8))
                        expected[bit >> 3] |= 1 << UInt8(bit & 7)
                    }
                }
                expected[byteCount] = UInt8(probes)
                #expect(BloomFilter.build(hashes: hashes, bitsPerKey: bitsPerKey) == expected, "\(keyCount) keys at \(bitsPerKey) bits")
            }
        }
    }
}

@Suite struct MemtableTests {
    /// Random inserts against a sorted-array model: lookups at every timestamp and the
    /// cursor's order agree with it.
    @Test func agreesWithASortedModel() throws {
        let table = Memtable(arenaChunkBytes: 4096)
        var model: [(key: [UInt8], timestamp: Timestamp, value: [UInt8]?)] = []
        var random = TestRandom(seed: 21)
        for timestamp in 1...3000 {
            let key = bytes("k\(random.below(400))")
            let value: [UInt8]? = random.below(6) == 0 ? nil : bytes("v\(timestamp)")
            table.insert(key: key, timestamp: Timestamp(timestamp), value: value)
            model.append((key, Timestamp(timestamp), value))
        }
        model.sort { VersionedKey(key: $0.key, timestamp: $0.timestamp) < VersionedKey(key: $1.key, timestamp: $1.timestamp) }
        let cursor = table.makeCursor()
        try cursor.seekToFirst()
        for entry in model {
            #expect(cursor.isValid && cursor.key == entry.key && cursor.timestamp == entry.timestamp && cursor.value == entry.value)
            try cursor.next()
        }
        #expect(!cursor.isValid)
        for probe in 0..<500 {
            let key = bytes("k\(probe % 400)")
            let at = Timestamp(random.below(3100))
            let expected = model.first { $0.key == key && $0.timestamp <= at }
            let found = table.get(key, at: at)
            #expect(found?.timestamp == expected?.timestamp && found?.value == expected?.value)
        }
        #expect(table.entryCount == 3000)
        #expect(table.bytesReserved >= table.payloadBytes)
    }
}

@Suite struct MergingCursorTests {
    /// Random sources (memtables, newest first) that overlap and repeat one another's
    /// versions: the merge walks the union in order with each (key, timestamp) once,
    /// valued by its newest source, from the start and after seeks, for one to five
    /// sources (the two-source path and the many-source path differ); and a visible
    /// read of a range at a snapshot gives what the model says.
    @Test(arguments: 1...5)
    func walksTheUnionOnceInOrder(_ sourceCount: Int) throws {
        var random = TestRandom(seed: UInt64(40 + sourceCount))
        for _ in 0..<20 {
            let sources = (0..<sourceCount).map { _ in Memtable(arenaChunkBytes: 4096) }
            /// "key@timestamp" → the version, its source index (lowest: newest) and value.
            var model: [String: (version: VersionedKey, source: Int, value: [UInt8]?)] = [:]
            for (index, source) in sources.enumerated() {
                for _ in 0..<random.below(120) {
                    let key = bytes("k\(random.below(60))")
                    let timestamp = Timestamp(1 + random.below(6))
                    let version = VersionedKey(key: key, timestamp: timestamp)
                    let name = "k\(String(decoding: key, as: UTF8.self))@\(timestamp)"
                    if source.get(key, at: timestamp)?.timestamp == timestamp { continue }
                    let value: [UInt8]? = random.below(5) == 0 ? nil : bytes("s\(index)-\(random.below(1000))")
                    source.insert(key: key, timestamp: timestamp, value: value)
                    if model[name].map({ $0.source > index }) ?? true { model[name] = (version, index, value) }
                }
            }
            let expected = model.values.map { ($0.version, $0.value) }.sorted { $0.0 < $1.0 }
            let cursor = MergingCursor(sources.map { $0.makeCursor() })
            try cursor.seekToFirst()
            var walked: [(VersionedKey, [UInt8]?)] = []
            while cursor.isValid {
                walked.append((VersionedKey(key: cursor.key, timestamp: cursor.timestamp), cursor.value))
                #expect(cursor.isTombstone == (cursor.value == nil))
                try cursor.next()
            }
            #expect(walked.count == expected.count)
            #expect(zip(walked, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
            // What a snapshot sees of a range, against the model: per key, its newest
            // version at or below the snapshot, a row unless that is a tombstone.
            for _ in 0..<10 {
                let snapshot = Timestamp(random.below(7))
                let low = random.below(60)
                let high = low + random.below(30)
                let limit = random.below(4) == 0 ? 1 + random.below(5) : .max
                let start = bytes("k\(low)")
                let end: [UInt8]? = random.below(3) == 0 ? nil : bytes("k\(high)")
                var wanted: [(key: [UInt8], value: [UInt8])] = []
                var seen: [UInt8]?
                for (version, value) in expected where version.timestamp <= snapshot && version.key != seen {
                    seen = version.key
                    guard compareBytes(version.key, start) >= 0, end.map({ compareBytes(version.key, $0) < 0 }) ?? true else { continue }
                    if let value, wanted.count < limit { wanted.append((version.key, value)) }
                }
                var run = VisibleRun(snapshot: snapshot, end: end, limit: limit)
                try cursor.seek(start, timestamp: snapshot)
                try cursor.readVisible(&run)
                #expect(run.chunk.rows.map(\.key) == wanted.map(\.key) && run.chunk.rows.map(\.value) == wanted.map(\.value),
                        "snapshot \(snapshot), from k\(low), limit \(limit)")
            }
            for _ in 0..<10 where !expected.isEmpty {
                let target = VersionedKey(key: bytes("k\(random.below(60))"), timestamp: Timestamp(random.below(7)))
                try cursor.seek(target.key, timestamp: target.timestamp)
                let from = expected.firstIndex { !($0.0 < target) } ?? expected.count
                for entry in expected[from...].prefix(15) {
                    #expect(cursor.isValid && cursor.key == entry.0.key && cursor.timestamp == entry.0.timestamp && cursor.value == entry.1)
                    try cursor.next()
                }
                if from + 15 >= expected.count { #expect(!cursor.isValid) }
            }
        }
    }
}
