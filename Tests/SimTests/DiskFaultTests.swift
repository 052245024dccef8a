import Aegis
import Testing
@testable import Sim

/// Each disk fault happens, at its rate, with the effect it claims.
@Suite struct DiskFaultTests {
    /// Kept alive for the test: a disk refers to its host, which the simulation owns.
    let simulation: Simulation

    init() throws {
        simulation = try bareSimulation()
    }

    private func disk(_ rates: DiskFaultRates = DiskFaultRates()) throws -> SimDisk {
        let disk = simulation.hosts[0].disk!
        disk.rates = rates
        return disk
    }

    private func sector(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 512) }

    @Test func crashLosesUnsyncedWritesAndKeepsSyncedOnes() throws {
        var rates = DiskFaultRates()
        rates.unsyncedLost = 1
        let disk = try disk(rates)
        let file = try disk.create("data")
        try disk.syncDirectory()
        try disk.write(file, offset: 0, bytes: sector(0xAA))
        try disk.sync(file)
        try disk.write(file, offset: 512, bytes: sector(0xBB))
        try disk.write(file, offset: 0, bytes: [0xCC])
        #expect(try disk.read(file, offset: 0, count: 1) == [0xCC])
        _ = disk.crash()
        let reopened = try disk.open("data")
        #expect(try disk.size(reopened) == 512)
        #expect(try disk.read(reopened, offset: 0, count: 512) == sector(0xAA))
    }

    @Test func crashKeepsUnsyncedWritesWhenTheModelSaysKeep() throws {
        let disk = try disk(DiskFaultRates(unsyncedLost: 0, unsyncedTorn: 0))
        let file = try disk.create("data")
        try disk.syncDirectory()
        try disk.write(file, offset: 0, bytes: sector(0xBB))
        _ = disk.crash()
        #expect(try disk.read(try disk.open("data"), offset: 0, count: 512) == sector(0xBB))
    }

    @Test func tornWritesHappenAtTheirRateAndMixOldAndNewBytes() throws {
        let disk = try disk(DiskFaultRates(unsyncedLost: 0, unsyncedTorn: 0.3))
        let file = try disk.create("data")
        try disk.syncDirectory()
        let sectors = 2_000
        try disk.write(file, offset: 0, bytes: [UInt8](repeating: 0, count: 512 * sectors))
        try disk.sync(file)
        try disk.write(file, offset: 0, bytes: [UInt8](repeating: 0xFF, count: 512 * sectors))
        _ = disk.crash()
        let after = try disk.read(try disk.open("data"), offset: 0, count: 512 * sectors)
        var torn = 0
        for index in 0..<sectors {
            let bytes = after[(index * 512)..<((index + 1) * 512)]
            let new = bytes.filter { $0 == 0xFF }.count
            #expect(new == 512 || new < 512 && bytes.prefix(new).allSatisfy { $0 == 0xFF } && bytes.dropFirst(new).allSatisfy { $0 == 0 })
            if new > 0 && new < 512 { torn += 1 }
        }
        #expect(abs(Double(torn) / Double(sectors) - 0.3) < 0.04, "torn \(torn) of \(sectors)")
        #expect(disk.statistics.sectorsTorn == torn)
    }

    @Test func misdirectedWritesLandElsewhere() throws {
        let disk = try disk(DiskFaultRates(misdirect: 0.2))
        let file = try disk.create("data")
        let sectors = 64
        try disk.write(file, offset: 0, bytes: [UInt8](repeating: 0, count: 512 * sectors))
        let writes = 5_000
        var missed = 0
        for index in 0..<writes {
            let target = (index % sectors) * 512
            let marker = sector(UInt8(1 + index % 250))
            let before = disk.statistics.misdirectedWrites
            try disk.write(file, offset: target, bytes: marker)
            let landed = try disk.read(file, offset: target, count: 512) == marker
            if disk.statistics.misdirectedWrites > before {
                missed += 1
            } else {
                #expect(landed)
            }
        }
        #expect(abs(Double(missed) / Double(writes) - 0.2) < 0.02, "misdirected \(missed) of \(writes)")
    }

    @Test func latentCorruptionFlipsABitThatStays() throws {
        let disk = try disk()
        let file = try disk.create("data")
        try disk.write(file, offset: 0, bytes: sector(0x55))
        try disk.sync(file)
        disk.rates.corruption = 1
        let first = try disk.read(file, offset: 0, count: 512)
        disk.rates.corruption = 0
        let differing = zip(first, sector(0x55)).filter { $0 != $1 }
        #expect(differing.count == 1)
        #expect(differing.allSatisfy { ($0.0 ^ $0.1).nonzeroBitCount == 1 })
        #expect(try disk.read(file, offset: 0, count: 512) == first)
    }

    @Test func ioErrorsHappenAtTheirRates() throws {
        let disk = try disk(DiskFaultRates(readError: 0.1, writeError: 0.05))
        let file = try disk.create("data")
        var writeErrors = 0
        var readErrors = 0
        for index in 0..<10_000 {
            do { try disk.write(file, offset: index * 8, bytes: [1]) } catch { writeErrors += 1 }
            do { _ = try disk.read(file, offset: 0, count: 1) } catch { readErrors += 1 }
        }
        #expect(abs(Double(writeErrors) / 10_000 - 0.05) < 0.01)
        #expect(abs(Double(readErrors) / 10_000 - 0.1) < 0.01)
    }

    @Test func directoryChangesNeedADirectorySync() throws {
        var rates = DiskFaultRates()
        rates.unsyncedLost = 1
        let disk = try disk(rates)
        let kept = try disk.create("kept")
        try disk.sync(kept)
        try disk.syncDirectory()
        let lost = try disk.create("lost")
        try disk.write(lost, offset: 0, bytes: [1, 2, 3])
        try disk.sync(lost)
        try disk.rename("kept", to: "renamed")
        _ = disk.crash()
        #expect(try disk.list() == ["kept"])
    }

    @Test func fullDiskRefusesWritesWithAClearError() throws {
        let host = simulation.hosts[0]
        let disk = SimDisk(host: host, sectorSize: 512, capacityBytes: 4096, random: SeededRandom(seed: 1))
        let file = try disk.create("data")
        try disk.write(file, offset: 0, bytes: [UInt8](repeating: 1, count: 4096))
        #expect(throws: DiskError.noSpace(name: "data")) { try disk.write(file, offset: 4096, bytes: [1]) }
        #expect(DiskError.noSpace(name: "data").description.contains("free space"))
    }

    @Test func badHandlesAndNamesAreErrorsNotCrashes() throws {
        let disk = try disk()
        #expect(throws: DiskError.notFound(name: "missing")) { try disk.open("missing") }
        #expect(throws: DiskError.invalidName(name: "a/b")) { try disk.create("a/b") }
        #expect(throws: DiskError.badHandle(DiskFile(rawValue: 99))) { try disk.read(DiskFile(rawValue: 99), offset: 0, count: 1) }
        _ = try disk.create("twice")
        #expect(throws: DiskError.alreadyExists(name: "twice")) { try disk.create("twice") }
    }
}
