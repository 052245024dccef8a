@testable import Aegis
import Testing
@testable import Sim

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A simulated disk of its own, with no faults unless a test sets them.
func storageDisk(seed: UInt64 = 1, capacityBytes: Int = 1 << 30) throws -> SimDisk {
    let simulation = try bareSimulation(nodes: 1, seed: seed)
    let disk = simulation.hosts[0].disk!
    disk.capacityBytes = capacityBytes
    // Keep the simulation (the disk's owner) alive as long as the disk.
    retainedSimulations.append(simulation)
    return disk
}

nonisolated(unsafe) var retainedSimulations: [Simulation] = []

/// Overwrites bytes of a file in place and syncs, as damage at rest would leave them.
func damage(_ disk: SimDisk, file name: String, at offset: Int, count: Int = 1) throws {
    let file = try disk.open(name)
    var content = try disk.read(file, offset: offset, count: count)
    for index in content.indices { content[index] ^= 0x5A }
    try disk.write(file, offset: offset, bytes: content)
    try disk.sync(file)
    disk.close(file)
}

@Suite struct WriteAheadLogTests {
    func record(_ number: Int) -> WriteAheadLog.Record {
        WriteAheadLog.Record(type: 1, body: bytes("record-\(number)"))
    }

    @Test func groupCommitWritesManyRecordsWithOneSync() throws {
        let disk = try storageDisk()
        let log = WriteAheadLog(disk: disk)
        try log.startFresh()
        let syncsBefore = disk.statistics.syncs
        for number in 1...50 { try log.add(record(number)) }
        try log.sync()
        #expect(disk.statistics.syncs - syncsBefore == 1)
        _ = disk.crash()
        let recovered = try WriteAheadLog(disk: disk).recover(after: 0)
        #expect(recovered.records.map(\.record) == (1...50).map(record))
        #expect(recovered.frames == 1 && recovered.tornFramesDropped == 0)
    }

    @Test(arguments: [(lost: 1.0, torn: 0.0), (lost: 0.0, torn: 1.0), (lost: 0.5, torn: 0.5)])
    func unsyncedFramesAreKeptWholeOrCut(_ rates: (lost: Double, torn: Double)) throws {
        for seed in 1...20 {
            let disk = try storageDisk(seed: UInt64(seed))
            disk.rates.unsyncedLost = rates.lost
            disk.rates.unsyncedTorn = rates.torn
            let log = WriteAheadLog(disk: disk)
            try log.startFresh()
            for number in 1...10 {
                try log.add(record(number))
                try log.sync()
            }
            for number in 11...13 {
                try log.add(WriteAheadLog.Record(type: 1, body: [UInt8](repeating: UInt8(number), count: 700)))
                try log.write(sync: false)
            }
            _ = disk.crash()
            let recovered = try WriteAheadLog(disk: disk).recover(after: 0)
            // The synced records, then a prefix of the unsynced ones, whole.
            let records = recovered.records.map(\.record)
            #expect(records.count >= 10 && records.count <= 13)
            #expect(Array(records.prefix(10)) == (1...10).map(record))
            for (offset, extra) in records.dropFirst(10).enumerated() {
                #expect(extra.body == [UInt8](repeating: UInt8(11 + offset), count: 700))
            }
            if rates.lost == 1 { #expect(records.count == 10) }
        }
    }

    /// The name of the log's only segment.
    func segment(_ disk: SimDisk) throws -> String {
        try #require(try disk.list().first { $0.hasPrefix("wal-") })
    }

    /// Damages both copies of frame `number` (each frame of these tests fills two sectors).
    func damageFrame(_ disk: SimDisk, _ number: Int) throws {
        let name = try segment(disk)
        try damage(disk, file: name, at: (number - 1) * 2 * disk.sectorSize + 40)
        try damage(disk, file: name, at: ((number - 1) * 2 + 1) * disk.sectorSize + 40)
    }

    @Test func aDamagedSyncedFrameIsCorruptionNotATornTail() throws {
        let disk = try storageDisk()
        let log = WriteAheadLog(disk: disk)
        try log.startFresh()
        for number in 1...20 {
            try log.add(record(number))
            try log.sync()
        }
        try damageFrame(disk, 5)
        #expect(throws: StorageError.self) { _ = try WriteAheadLog(disk: disk).recover(after: 0) }
        do {
            _ = try WriteAheadLog(disk: disk).recover(after: 0)
        } catch {
            guard case .corruption = error else { Issue.record("expected corruption, got \(error)"); return }
            #expect(error.description.contains("frame 5"))
        }
        // Frames up to the cutoff are covered elsewhere: damage there costs nothing.
        let recovered = try WriteAheadLog(disk: disk).recover(after: 10)
        #expect(recovered.records.map(\.record) == (11...20).map(record))
    }

    /// Without syncs between frames (`.onFlush`), a lost frame followed by readable
    /// ones was never synced: a torn tail, since no later frame says otherwise.
    @Test func aLostUnsyncedFrameBeforeReadableOnesIsATornTail() throws {
        let disk = try storageDisk()
        let log = WriteAheadLog(disk: disk)
        try log.startFresh()
        for number in 1...3 {
            try log.add(record(number))
            try log.sync()
        }
        for number in 4...6 {
            try log.add(record(number))
            try log.write(sync: false)
        }
        try damageFrame(disk, 4)
        let recovered = try WriteAheadLog(disk: disk).recover(after: 0)
        #expect(recovered.records.map(\.record) == (1...3).map(record))
        #expect(recovered.tornFramesDropped == 3)
        // The log goes on after the cut.
        try log.add(record(7))
        let reopened = WriteAheadLog(disk: disk)
        let again = try reopened.recover(after: 0)
        #expect(again.records.count == 3)
        try reopened.add(record(8))
        try reopened.sync()
        #expect(try WriteAheadLog(disk: disk).recover(after: 0).records.map(\.record) == [1, 2, 3, 8].map(record))
    }

    @Test func aMalformedRecordInsideAWholeFrameIsRefused() {
        var body = ByteWriter()
        body.write(UInt64(0))
        body.write(UInt32(1))
        body.write(UInt32(3))
        body.write(UInt8(1))
        body.write(UInt32(12345))  // wrong checksum
        body.write(raw: [1, 2, 3])
        #expect(throws: DecodeError.self) { _ = try WriteAheadLog.decodeFrame(body.bytes) }
    }
}

/// The LSM tree on a simulated disk, with small options so flushes and compactions
/// happen after a few kilobytes.
@Suite struct LSMTreeTests {
    func options(_ compression: BlockCompression = .lz4) -> StorageOptions {
        var options = StorageOptions.simulation
        options.compression = compression
        return options
    }

    /// A model of what the tree must hold: every version of every key.
    struct Model {
        var versions: [[UInt8]: [(Timestamp, [UInt8]?)]] = [:]
        var timestamp: Timestamp = 0

        mutating func apply(_ writes: [KeyWrite], at timestamp: Timestamp) {
            for write in writes { versions[write.key, default: []].insert((timestamp, write.value), at: 0) }
            self.timestamp = timestamp
        }

        func get(_ key: [UInt8], at timestamp: Timestamp) -> [UInt8]? {
            versions[key]?.first { $0.0 <= timestamp }?.1 ?? nil
        }

        func scan(at timestamp: Timestamp) -> [([UInt8], [UInt8])] {
            versions.keys.sorted { compareBytes($0, $1) < 0 }.compactMap { key in get(key, at: timestamp).map { (key, $0) } }
        }
    }

    func key(_ number: Int) -> [UInt8] { bytes("key-\(String(number).leftPadded(5))") }

    /// `count` batches of up to four writes over `keys` keys, a sixth of them deletes,
    /// at timestamps after `after`.
    func batches(_ count: Int, keys: Int, seed: UInt64, after: Timestamp = 0) -> [(Timestamp, [KeyWrite])] {
        var random = SeededRandom(seed: seed)
        return (1...max(count, 1)).prefix(count).map { offset in
            let timestamp = after + Timestamp(offset)
            let writes = (0..<(1 + Int(random.uniform(below: 4)))).map { _ -> KeyWrite in
                let number = Int(random.uniform(below: UInt64(keys)))
                let value: [UInt8]? = random.uniform(below: 6) == 0 ? nil
                    : bytes("value-\(number)-at-\(timestamp)-" + String(repeating: "x", count: Int(random.uniform(below: 60))))
                return KeyWrite(key: key(number), value: value)
            }
            return (timestamp, writes)
        }
    }

    func fill(_ tree: LSMTree, _ model: inout Model, batches count: Int, keys: Int, seed: UInt64, sync: Bool = true) throws {
        for (timestamp, writes) in batches(count, keys: keys, seed: seed, after: model.timestamp) {
            try tree.apply(writes, at: timestamp)
            model.apply(LSMTree.distinct(writes), at: timestamp)
            if sync { try tree.sync() }
        }
    }

    func expectMatches(_ tree: LSMTree, _ model: Model, keys: Int, at timestamps: [Timestamp]) throws {
        for timestamp in timestamps {
            for number in 0..<keys {
                #expect(try tree.get(key(number), at: timestamp)?.value == model.get(key(number), at: timestamp))
            }
            let scanned = try tree.scan(from: [], to: nil, at: timestamp)
            let expected = model.scan(at: timestamp)
            #expect(scanned.map(\.key) == expected.map(\.0))
            #expect(scanned.map(\.value) == expected.map(\.1))
        }
    }

    @Test(arguments: [BlockCompression.none, .lz4, .zstd(level: 3)])
    func flushesAndCompactionsKeepEveryVersion(_ compression: BlockCompression) throws {
        let disk = try storageDisk()
        let tree = try LSMTree(disk: disk, options: options(compression))
        #expect(tree.recovery.createdFresh)
        var model = Model()
        try fill(tree, &model, batches: 1500, keys: 300, seed: 1)
        #expect(tree.statistics.flushes > 5)
        #expect(tree.statistics.compactions > 2)
        #expect(tree.statistics.writeAmplification > 1)
        let shape = tree.levelShape
        #expect(shape.dropFirst().contains { $0.tables > 0 }, "compaction moved data below level 0: \(shape)")
        try expectMatches(tree, model, keys: 300, at: [1, 200, 777, 1499, 1500])
        if compression != .none {
            let data = tree.dataBytes
            #expect(data.stored < data.raw, "\(compression) should shrink the blocks")
        }
        // Reopened without a crash, it holds the same.
        tree.close()
        let reopened = try LSMTree(disk: disk, options: options(compression))
        #expect(reopened.lastTimestamp == 1500)
        try expectMatches(reopened, model, keys: 300, at: [1, 777, 1500])
    }

    /// A flush whose keys overlap nothing in level 0 and the sorted levels goes below
    /// level 0 (a sequential load is not rewritten by compactions that only move it);
    /// one that overlaps stays above. Either way every version reads back, before and
    /// after reopening.
    @Test func flushesThatOverlapNothingSkipLevel0() throws {
        let disk = try storageDisk()
        let tree = try LSMTree(disk: disk, options: options())
        var model = Model()
        var timestamp: Timestamp = 0
        func write(_ numbers: [Int]) throws {
            timestamp += 1
            let writes = numbers.map { KeyWrite(key: key($0), value: bytes("value-\($0)-at-\(timestamp)-" + String(repeating: "s", count: 40))) }
            try tree.apply(writes, at: timestamp)
            model.apply(writes, at: timestamp)
            try tree.sync()
        }
        // A sequential load: ascending keys, so each flush overlaps nothing before it.
        for batch in 0..<60 { try write(Array(batch * 20..<(batch + 1) * 20)) }
        #expect(tree.statistics.flushes > 3)
        #expect(tree.statistics.flushesBelowLevel0 == tree.statistics.flushes, "\(tree.statistics)")
        #expect(tree.statistics.compactions == 0, "\(tree.statistics)")
        try expectMatches(tree, model, keys: 1200, at: [1, 30, 60])
        // Rewriting keys spread over the loaded range: these flushes overlap the loaded
        // tables, so they stay above them (in level 0, or level 1 while it is empty);
        // compactions then merge them down.
        let flushes = tree.statistics.flushes
        let below = tree.statistics.flushesBelowLevel0
        for round in 0..<60 { try write((0..<20).map { ($0 * 61 + round * 7) % 1200 }) }
        #expect(tree.statistics.flushes - flushes > tree.statistics.flushesBelowLevel0 - below, "\(tree.statistics)")
        #expect(tree.statistics.compactions > 0)
        try expectMatches(tree, model, keys: 1200, at: [60, 90, 120])
        tree.close()
        let reopened = try LSMTree(disk: disk, options: options())
        try expectMatches(reopened, model, keys: 1200, at: [1, 60, 120])
    }

    @Test func aCrashLosesOnlyWhatWasNotSynced() throws {
        let disk = try storageDisk()
        disk.rates.unsyncedLost = 1
        let tree = try LSMTree(disk: disk, options: options())
        var model = Model()
        try fill(tree, &model, batches: 400, keys: 100, seed: 2)
        try fill(tree, &model, batches: 30, keys: 100, seed: 3, sync: false)
        _ = disk.crash()
        let recovered = try LSMTree(disk: disk, options: options())
        #expect(recovered.lastTimestamp >= 400 && recovered.lastTimestamp <= 430)
        // Exactly a prefix of the batches survived.
        try expectMatches(recovered, model, keys: 100, at: [recovered.lastTimestamp, 250])
    }

    @Test func aDamagedBlockIsReportedNeverReturned() throws {
        let disk = try storageDisk()
        var tree = try LSMTree(disk: disk, options: options(.none))
        var model = Model()
        try fill(tree, &model, batches: 300, keys: 200, seed: 4)
        try tree.compactAll()
        let table = try #require(try disk.list().first { $0.hasPrefix("table-") })
        // Damage a digit inside a stored value, so the bytes still decode as an entry.
        let file = try disk.open(table)
        let content = try disk.read(file, offset: 0, count: try disk.size(file))
        disk.close(file)
        let marker = bytes("-at-")
        let valueOffset = try #require((0..<(content.count - 4)).first { Array(content[$0..<($0 + 4)]) == marker })
        try damage(disk, file: table, at: valueOffset + 4)
        tree.close()
        tree = try LSMTree(disk: disk, options: options(.none))
        var corrupt = 0
        for number in 0..<200 {
            do {
                #expect(try tree.get(key(number), at: 300)?.value == model.get(key(number), at: 300))
            } catch {
                guard case .corruption(let file, _) = error else { throw error }
                #expect(file == table)
                corrupt += 1
            }
        }
        #expect(corrupt > 0 && corrupt < 200)
        #expect(throws: StorageError.self) { _ = try tree.scan(from: [], to: nil, at: 300) }

        // The planted bug hands the damaged bytes out as data.
        var planted = options(.none)
        planted.mutations = MutationSet([.storageIgnoreBlockChecksum])
        tree.close()
        let broken = try LSMTree(disk: disk, options: planted)
        var wrong = 0
        for number in 0..<200 {
            let found = try broken.get(key(number), at: 300)
            if found?.value != model.get(key(number), at: 300) { wrong += 1 }
        }
        #expect(wrong == 1)
    }

    /// Crashes at every disk call of a stretch of work that flushes and compacts, in
    /// turn: after each, recovery must open and hold exactly the batches up to some
    /// timestamp at or past the last one synced. Returns the crash points tried and
    /// how many of them failed.
    func crashAtEveryDiskCall(_ options: StorageOptions, seed: UInt64) throws -> (points: Int, failures: Int) {
        let work = batches(160, keys: 40, seed: seed)
        var model = Model()
        for (timestamp, writes) in work { model.apply(LSMTree.distinct(writes), at: timestamp) }
        var point = 1
        var failures = 0
        while true {
            let disk = try storageDisk(seed: seed &+ UInt64(point))
            let tree = try LSMTree(disk: disk, options: options)
            for (timestamp, writes) in work.prefix(60) {
                try tree.apply(writes, at: timestamp)
                try tree.sync()
            }
            disk.rates.unsyncedLost = 0.4
            disk.rates.unsyncedTorn = 0.3
            disk.crashAtCallCountdown = point
            var acknowledged: Timestamp = 60
            do {
                for (timestamp, writes) in work.dropFirst(60) {
                    try tree.apply(writes, at: timestamp)
                    try tree.sync()
                    acknowledged = timestamp
                }
            } catch {
                guard error.isCrash else { throw error }
            }
            guard disk.crashAtCallCountdown == nil else { break }  // the work made fewer calls
            _ = disk.crashForTests()
            disk.rates = DiskFaultRates()
            do {
                let recovered = try LSMTree(disk: disk, options: options)
                let last = recovered.lastTimestamp
                let wrong = try (0..<40).contains { number in
                    try recovered.get(key(number), at: last)?.value != model.get(key(number), at: last)
                }
                if last < acknowledged || wrong { failures += 1 }
            } catch {
                failures += 1
            }
            point += 1
        }
        return (point - 1, failures)
    }

    @Test func recoveryHoldsAPrefixAfterACrashAtEveryDiskCall() throws {
        let (points, failures) = try crashAtEveryDiskCall(options(), seed: 6)
        #expect(points > 100, "the work should make many disk calls, made \(points)")
        #expect(failures == 0)
    }

    @Test(arguments: [Mutation.storageManifestRenameBeforeSync, .storageSkipWALSync])
    func plantedBugsFailSomeCrashPoint(_ mutation: Mutation) throws {
        var planted = options()
        planted.mutations = MutationSet([mutation])
        let (_, failures) = try crashAtEveryDiskCall(planted, seed: 6)
        #expect(failures > 0)
    }

    @Test func garbageBelowTheLowWaterMarkIsCollected() throws {
        let disk = try storageDisk()
        let tree = try LSMTree(disk: disk, options: options())
        for timestamp in 1...200 {
            try tree.apply([KeyWrite(key: bytes("hot"), value: bytes("v\(timestamp)")),
                            KeyWrite(key: bytes("gone-\(timestamp)"), value: timestamp % 2 == 0 ? nil : bytes("x"))], at: Timestamp(timestamp))
        }
        try tree.apply([KeyWrite(key: bytes("gone-1"), value: nil)], at: 201)
        try tree.sync()
        #expect(try tree.versions(of: bytes("hot")).count == 200)
        tree.lowWater = 150
        try tree.collectGarbage()
        // Versions above the mark stay; of those at or below it, only the newest.
        #expect(try tree.versions(of: bytes("hot")).map(\.timestamp) == Array((150...200).reversed()).map { Timestamp($0) })
        #expect(try tree.get(bytes("hot"), at: 150)?.value == bytes("v150"))
        tree.lowWater = 201
        try tree.collectGarbage()
        #expect(try tree.versions(of: bytes("hot")).count == 1)
        // Deleted keys leave nothing behind at the bottom level.
        #expect(try tree.versions(of: bytes("gone-1")).isEmpty)
        #expect(try tree.versions(of: bytes("gone-2")).isEmpty)
        #expect(try tree.versions(of: bytes("gone-3")).count == 1)
        #expect(tree.statistics.versionsDropped > 300)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

/// Bad input and limits: clear errors, a consistent store afterwards, no crash.
@Suite struct StorageLimitTests {
    func key(_ number: Int) -> [UInt8] { bytes("key-\(number)") }

    @Test func aFullDiskRefusesWritesClearlyAndLosesNothingSynced() throws {
        let disk = try storageDisk(capacityBytes: 96 * 1024)
        var options = StorageOptions.simulation
        options.compression = .none
        let tree = try LSMTree(disk: disk, options: options)
        var synced: Timestamp = 0
        var refusal: StorageError?
        for timestamp in Timestamp(1)...5000 {
            do {
                try tree.apply([KeyWrite(key: key(Int(timestamp % 300)), value: [UInt8](repeating: 7, count: 100))], at: timestamp)
                try tree.sync()
                synced = timestamp
            } catch {
                refusal = error
                break
            }
        }
        let error = try #require(refusal, "a 96 KiB disk must fill up")
        #expect(error.description.contains("disk is full") || error.description.contains("reopen it to recover"), "\(error)")
        // Once a write failed, writes are refused until the store is reopened.
        #expect(throws: StorageError.self) { try tree.apply([KeyWrite(key: key(1), value: [1])], at: synced + 100) }
        // Reads go on.
        #expect(try tree.get(key(1), at: synced) != nil)
        // Given room again, the reopened store holds every synced batch.
        disk.capacityBytes = 1 << 30
        let reopened = try LSMTree(disk: disk, options: options)
        #expect(reopened.lastTimestamp >= synced)
        for number in 0..<300 where Timestamp(number) <= synced && number > 0 {
            #expect(try reopened.get(key(number), at: reopened.lastTimestamp)?.value == [UInt8](repeating: 7, count: 100))
        }
        try reopened.apply([KeyWrite(key: key(1), value: [2])], at: reopened.lastTimestamp + 1)
        try reopened.sync()
    }

    @Test func aFailedSyncStopsWritesAndRecoveryKeepsAPrefix() throws {
        let disk = try storageDisk()
        let tree = try LSMTree(disk: disk, options: .simulation)
        for timestamp in Timestamp(1)...50 {
            try tree.apply([KeyWrite(key: key(Int(timestamp)), value: bytes("v\(timestamp)"))], at: timestamp)
            try tree.sync()
        }
        try tree.apply([KeyWrite(key: key(51), value: bytes("v51"))], at: 51)
        disk.rates.writeError = 1
        do {
            try tree.sync()
            Issue.record("the sync should have failed")
        } catch {
            guard case let .disk(.ioError(name, _)) = error else { throw error }
            #expect(name.hasPrefix("wal-"))
            #expect(error.description.contains("I/O error") && error.description.contains("replace the device"))
        }
        disk.rates.writeError = 0
        do {
            try tree.apply([KeyWrite(key: key(52), value: bytes("v52"))], at: 52)
            Issue.record("writes must be refused after a failed sync")
        } catch {
            #expect(error.description.contains("reopen it to recover"))
        }
        let reopened = try LSMTree(disk: disk, options: .simulation)
        #expect(reopened.lastTimestamp == 50 || reopened.lastTimestamp == 51)
        for number in 1...50 { #expect(try reopened.get(key(number), at: 51)?.value == bytes("v\(number)")) }
    }

    @Test func readErrorsAreReportedAndLeaveTheStoreUsable() throws {
        let disk = try storageDisk()
        let tree = try LSMTree(disk: disk, options: .simulation)
        for timestamp in Timestamp(1)...400 {
            try tree.apply([KeyWrite(key: key(Int(timestamp)), value: bytes("v\(timestamp)"))], at: timestamp)
        }
        try tree.sync()
        try tree.compactAll()
        tree.close()
        let reopened = try LSMTree(disk: disk, options: .simulation)
        disk.rates.readError = 1
        #expect(throws: StorageError.self) { _ = try reopened.get(key(10), at: 400) }
        disk.rates.readError = 0
        #expect(try reopened.get(key(10), at: 400)?.value == bytes("v10"))
    }

    /// Bytes from the network or a damaged disk never crash the decoders.
    @Test func malformedManifestsAndRecordsAreRefused() throws {
        var random = SeededRandom(seed: 3)
        var manifest = Manifest(levelCount: 3)
        manifest.levels[1].append(TableMeta(fileNumber: 1, fileBytes: 100, entryCount: 3, smallestKey: [1], smallestTimestamp: 1,
                                            largestKey: [9], largestTimestamp: 2, timestampMax: 2, rawDataBytes: 50, storedDataBytes: 40))
        manifest.nextFileNumber = 2
        let encoded = manifest.encode()
        #expect(try Manifest.decode(encoded) == manifest)
        for _ in 0..<2000 {
            var damaged = encoded
            damaged[Int(random.uniform(below: UInt64(damaged.count)))] = UInt8(truncatingIfNeeded: random.nextUInt64())
            _ = try? Manifest.decode(damaged)
            var record = LSMTree.encodeCommit(timestamp: 5, writes: [KeyWrite(key: [1, 2], value: [3]), KeyWrite(key: [4], value: nil)])
            record[Int(random.uniform(below: UInt64(record.count)))] = UInt8(truncatingIfNeeded: random.nextUInt64())
            _ = LSMTree.decodeCommit(record)
        }
        #expect(LSMTree.decodeCommit([1, 2, 3]) == nil)
    }
}

/// The storage scenario end to end: seeds pass, and each planted storage bug fails a
/// seed known to catch it, with the check that should catch it.
@Suite struct StorageScenarioTests {
    @Test func seedsPass() throws {
        let scenario = try scenarioFile("storage")
        for seed in UInt64(1)...12 {
            let output = run(scenario, seed: seed)
            #expect(output.result.outcome == .pass, "seed \(seed): \(output.result.violations)")
            #expect(output.result.coverage[.storageFlush] > 0, "seed \(seed) should flush")
        }
    }

    @Test(arguments: [
        (Mutation.storageSkipWALSync, UInt64(1), CheckName.durability),
        (.storageManifestRenameBeforeSync, 21, .integrity),
        (.storageIgnoreBlockChecksum, 5, .integrity),
    ])
    func plantedBugIsCaught(_ mutation: Mutation, seed: UInt64, check: CheckName) throws {
        let scenario = try scenarioFile("storage")
        #expect(run(scenario, seed: seed).result.outcome == .pass)
        let planted = run(scenario, seed: seed, mutations: [mutation])
        #expect(planted.result.outcome == .safetyViolation)
        #expect(planted.result.violations.first?.check == check, "\(planted.result.violations)")
    }
}
