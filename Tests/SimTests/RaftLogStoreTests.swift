@testable import Aegis
import Testing
@testable import Sim

/// The Raft log on a simulated disk: what survives a crash, what a torn tail and a
/// damaged frame look like to recovery, and that one damaged copy never costs data.
@Suite struct RaftLogStoreTests {
    let simulation: Simulation
    let founders = ClusterConfiguration(voters: [NodeID(1), NodeID(2), NodeID(3)])

    init() throws {
        simulation = try bareSimulation()
    }

    private func disk(_ rates: DiskFaultRates = DiskFaultRates()) -> SimDisk {
        let disk = simulation.hosts[0].disk!
        disk.rates = rates
        return disk
    }

    private func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [LogEntry] {
        range.map { LogEntry(index: LogIndex($0), term: Term(term), kind: .command, data: Array("entry-\($0)".utf8)) }
    }

    /// A store with entries 2...count written, one frame each, all synced.
    private func filledStore(_ disk: SimDisk, count: UInt64, options: RaftLogStore.Options = .init()) throws -> RaftLogStore {
        let store = RaftLogStore(disk: disk, options: options)
        _ = try store.recover(bootstrap: founders)
        for index in 2...count {
            try store.persist(hardState: HardState(term: Term(2), vote: NodeID(1), commit: LogIndex(index - 1)),
                entries: entries(index...index, term: 2), snapshot: nil)
        }
        return store
    }

    private func segmentName(_ disk: SimDisk) throws -> String {
        try #require(try disk.list().first { $0.hasPrefix("raft-log-") })
    }

    /// Rewrites bytes of a file in place and syncs, as latent damage would leave them.
    private func damage(_ disk: SimDisk, file name: String, at offset: Int, _ change: (inout [UInt8]) -> Void) throws {
        let file = try disk.open(name)
        var bytes = try disk.read(file, offset: 0, count: try disk.size(file))
        change(&bytes)
        try disk.write(file, offset: offset, bytes: Array(bytes[offset...]))
        try disk.sync(file)
        disk.close(file)
    }

    @Test func whatWasPersistedIsRecovered() throws {
        let disk = disk()
        _ = try filledStore(disk, count: 20)
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.entries.count == 20)
        #expect(state.entries.last?.data == Array("entry-20".utf8))
        #expect(state.hardState == HardState(term: Term(2), vote: NodeID(1), commit: LogIndex(19)))
        #expect(report.tornTailBytes == 0 && report.corruptFrames == 0 && report.twinCopiesUsed == 0)
    }

    /// Entries written before a snapshot install are gone after it, even when a later
    /// compaction leaves the snapshot file past the install.
    @Test func entriesAnInstallReplacedStayGoneAfterALaterCompaction() throws {
        let disk = disk()
        let store = try filledStore(disk, count: 12)
        let installed = Snapshot(metadata: SnapshotMetadata(index: LogIndex(8), term: Term(3), configuration: founders), data: [8])
        try store.persist(hardState: HardState(term: Term(3), vote: nil, commit: LogIndex(8)), entries: [], snapshot: installed)
        try store.persist(hardState: HardState(term: Term(3), vote: nil, commit: LogIndex(9)), entries: entries(9...9, term: 3), snapshot: nil)
        try store.saveSnapshot(Snapshot(metadata: SnapshotMetadata(index: LogIndex(9), term: Term(3), configuration: founders), data: [9]))
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(report.corruptFrames == 0)
        #expect(state.snapshot.metadata.index == LogIndex(9))
        #expect(state.entries.isEmpty, "entries 10...12 of term 2 were replaced by the install")
    }

    /// A frame whose entries start at or below a newer snapshot file's index replaced
    /// everything after it too: a deposed leader's entries past the snapshot must not
    /// come back (shard-bank seed 186).
    @Test func anOverwriteBelowTheSnapshotStillReplacesTheEntriesAfterIt() throws {
        let disk = disk()
        let store = try filledStore(disk, count: 12)
        try store.persist(hardState: HardState(term: Term(3), vote: nil, commit: LogIndex(8)), entries: entries(9...9, term: 3), snapshot: nil)
        try store.persist(hardState: HardState(term: Term(3), vote: nil, commit: LogIndex(10)), entries: entries(10...10, term: 3), snapshot: nil)
        try store.saveSnapshot(Snapshot(metadata: SnapshotMetadata(index: LogIndex(10), term: Term(3), configuration: founders), data: [10]))
        _ = disk.crash()
        let (state, _) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.snapshot.metadata.index == LogIndex(10))
        #expect(state.entries.isEmpty, "entries 11 and 12 of term 2 were replaced from index 9 on")
    }

    /// A crash after a leader's snapshot was written but before the frame carrying its
    /// term: the node comes back in the snapshot's term, with no vote, never in an
    /// older term than its own log (list-append seed 449).
    @Test func aSnapshotWhoseFrameWasLostRaisesTheTerm() throws {
        let disk = disk()
        _ = try filledStore(disk, count: 6)
        let installed = Snapshot(metadata: SnapshotMetadata(index: LogIndex(20), term: Term(5), configuration: founders), data: [20])
        try RaftSnapshotFile.write(installed, disk: disk, name: RaftLogStore.snapshotName, sync: true)
        try disk.syncDirectory()
        _ = disk.crash()
        let (state, _) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.snapshot.metadata.index == LogIndex(20) && state.entries.isEmpty)
        #expect(state.hardState.term == Term(5) && state.hardState.vote == nil)
        #expect(state.hardState.commit == LogIndex(20))
    }

    @Test func anUnsyncedTailIsCutCleanly() throws {
        var rates = DiskFaultRates()
        rates.unsyncedLost = 0
        rates.unsyncedTorn = 1
        let disk = disk(rates)
        let store = try filledStore(disk, count: 10)
        _ = store
        let unsynced = RaftLogStore(disk: disk, options: { var options = RaftLogStore.Options(); options.skipSync = true; return options }())
        _ = try unsynced.recover(bootstrap: founders)
        try unsynced.persist(hardState: HardState(term: Term(3)), entries: entries(11...11, term: 3), snapshot: nil)
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        // Torn sectors keep a prefix of the new bytes: the frame either survived whole in
        // one of its copies, or was cut; either way nothing before it was touched.
        #expect(state.entries.count == 10 || state.entries.count == 11)
        #expect(report.corruptFrames == 0)
        #expect(state.hardState.repairFloor == .zero)
        #expect(Array(state.entries.prefix(10)) == [LogEntry(index: LogIndex(1), term: Term(1), kind: .configuration,
            data: founders.encoded)] + entries(2...10, term: 2))
    }

    @Test func aDamagedFirstCopyIsReadFromItsTwinAndRewritten() throws {
        let disk = disk()
        _ = try filledStore(disk, count: 8)
        let name = try segmentName(disk)
        // Flip a bit in the payload of the first copy of the third frame.
        try damage(disk, file: name, at: 0) { bytes in bytes[4 * 512 + 40] ^= 0x10 }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.entries.count == 8)
        #expect(report.twinCopiesUsed == 1)
        #expect(report.corruptFrames == 0 && state.hardState.repairFloor == .zero)
        let (_, again) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(again.twinCopiesUsed == 0, "the damaged copy was rewritten from its twin")
    }

    @Test func aSecondCopyMisdirectedOntoTheFirstStillReads() throws {
        let disk = disk()
        _ = try filledStore(disk, count: 6)
        let name = try segmentName(disk)
        // Frame 3's second copy lands on its first copy's place; its own place is zeros.
        try damage(disk, file: name, at: 4 * 512) { bytes in
            let second = Array(bytes[(5 * 512)..<(6 * 512)])
            bytes.replaceSubrange((4 * 512)..<(5 * 512), with: second)
            bytes.replaceSubrange((5 * 512)..<(6 * 512), with: [UInt8](repeating: 0, count: 512))
        }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.entries.count == 6)
        #expect(report.corruptFrames == 0)
    }

    @Test func aFrameDamagedInBothCopiesIsCorruptionAndSetsARepairFloor() throws {
        let disk = disk()
        _ = try filledStore(disk, count: 12)
        let name = try segmentName(disk)
        // Both copies of the fifth frame (entry 5).
        try damage(disk, file: name, at: 0) { bytes in
            bytes[8 * 512 + 40] ^= 0x01
            bytes[9 * 512 + 40] ^= 0x01
        }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(report.corruptFrames == 1)
        #expect(state.entries.count == 3, "the log is cut at the commit index known before the damage")
        #expect(state.hardState.commit == LogIndex(3))
        #expect(state.hardState.repairFloor == LogIndex(12), "votes are judged against the tail it had")
        #expect(state.hardState.repairFloorTerm == Term(2))
        #expect(state.hardState.term == Term(2) && state.hardState.vote == NodeID(1))
        let (again, againReport) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(againReport.corruptFrames == 0, "the repaired state was rewritten")
        #expect(again.hardState.repairFloor == LogIndex(12))
        #expect(again.entries.count == 3)
    }

    /// Entries before the damage may have been replaced by a frame after it: only the
    /// part known committed before the damage is kept (disk-faults seed 251).
    @Test func entriesReplacedAfterTheDamageAreNotResurrected() throws {
        let disk = disk()
        let store = RaftLogStore(disk: disk)
        _ = try store.recover(bootstrap: founders)
        try store.persist(hardState: HardState(term: Term(2), commit: LogIndex(2)), entries: entries(2...4, term: 2), snapshot: nil)
        try store.persist(hardState: HardState(term: Term(2), commit: LogIndex(2)), entries: entries(5...5, term: 2), snapshot: nil)
        try store.persist(hardState: HardState(term: Term(3), commit: LogIndex(5)), entries: entries(3...5, term: 3), snapshot: nil)
        let name = try segmentName(disk)
        // Frames: bootstrap (sectors 0-1), 2...4 (2-3), 5 (4-5), 3...5 of term 3 (6-7).
        try damage(disk, file: name, at: 0) { bytes in
            bytes[4 * 512 + 40] ^= 0x01
            bytes[5 * 512 + 40] ^= 0x01
        }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(report.corruptFrames == 1)
        #expect(state.entries.map(\.index.rawValue) == [1, 2])
        #expect(state.entries.allSatisfy { $0.term <= Term(2) })
        #expect(state.hardState.commit == LogIndex(2))
        #expect(state.hardState.repairFloor == LogIndex(5) && state.hardState.repairFloorTerm == Term(3))
    }

    @Test func aSnapshotWithOneDamagedCopyIsKept() throws {
        let disk = disk()
        let store = try filledStore(disk, count: 10)
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: LogIndex(8), term: Term(2), configuration: founders),
            data: [UInt8](repeating: 42, count: 900))
        try store.saveSnapshot(snapshot)
        try damage(disk, file: "raft-snapshot", at: 0) { bytes in bytes[100] ^= 0x80 }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.snapshot == snapshot)
        #expect(!report.snapshotDamaged && report.twinCopiesUsed == 1)
        #expect(state.entries.map(\.index) == [LogIndex(9), LogIndex(10)])
    }

    @Test func aSnapshotDamagedInBothCopiesLeavesTheNodeToBeRepaired() throws {
        let disk = disk()
        let store = try filledStore(disk, count: 10)
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: LogIndex(8), term: Term(2), configuration: founders),
            data: [UInt8](repeating: 42, count: 200))
        try store.saveSnapshot(snapshot)
        try damage(disk, file: "raft-snapshot", at: 0) { bytes in
            bytes[100] ^= 0x80
            bytes[512 + 100] ^= 0x80
        }
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(report.snapshotDamaged)
        #expect(state.entries.isEmpty && state.snapshot.metadata.index == .zero)
        #expect(state.hardState.repairFloor == LogIndex(10) && state.hardState.repairFloorTerm == Term(2))
    }

    @Test func segmentsRollAndThoseASnapshotCoversAreRemoved() throws {
        let disk = disk()
        var options = RaftLogStore.Options()
        options.segmentBytesMax = 4096
        let store = try filledStore(disk, count: 40, options: options)
        let segmentsBefore = try disk.list().filter { $0.hasPrefix("raft-log-") }.count
        #expect(segmentsBefore > 4)
        try store.saveSnapshot(Snapshot(metadata: SnapshotMetadata(index: LogIndex(35), term: Term(2), configuration: founders),
            data: [1, 2, 3]))
        let segmentsAfter = try disk.list().filter { $0.hasPrefix("raft-log-") }.count
        #expect(segmentsAfter < segmentsBefore)
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk, options: options).recover(bootstrap: founders)
        #expect(state.snapshot.metadata.index == LogIndex(35))
        #expect(state.entries.map(\.index.rawValue) == Array(36...40))
        #expect(report.corruptFrames == 0)
    }

    @Test func aFirstStartCutShortStartsAfresh() throws {
        var rates = DiskFaultRates()
        rates.unsyncedLost = 1
        let disk = disk(rates)
        let store = RaftLogStore(disk: disk, options: { var options = RaftLogStore.Options(); options.skipSync = true; return options }())
        _ = try store.recover(bootstrap: founders)
        // The bootstrap frame is forced to disk; make it vanish as an interrupted start would.
        for name in try disk.list() { try disk.remove(name) }
        _ = try disk.create("raft-log-00000001-0000000000000001")
        try disk.syncDirectory()
        _ = disk.crash()
        let (state, report) = try RaftLogStore(disk: disk).recover(bootstrap: founders)
        #expect(state.entries.count == 1 && state.entries[0].kind == .configuration)
        #expect(state.hardState.repairFloor == .zero && !report.isDamaged)
    }

    @Test func framesDecodeOnlyWhenWhole() throws {
        let frame = RaftFrame(hardState: HardState(term: Term(3), vote: NodeID(2), commit: LogIndex(4)),
            entries: entries(5...7, term: 3))
        let payload = frame.payload
        let copy = FrameLog.encodedCopy(1, sequence: 9, payload: payload, sectorSize: 512)
        #expect(copy.count % 512 == 0)
        let read = try #require(FrameLog.copy(in: copy, at: 0, sectorSize: 512))
        #expect(read.0.sequence == 9)
        #expect(try RaftFrame.decodePayload(read.0.payload) == frame)
        for position in stride(from: 0, to: 32 + payload.count, by: 7) {
            var damaged = copy
            damaged[position] ^= 0x04
            #expect(FrameLog.copy(in: damaged, at: 0, sectorSize: 512) == nil, "a flip at \(position) went unnoticed")
        }
    }
}
