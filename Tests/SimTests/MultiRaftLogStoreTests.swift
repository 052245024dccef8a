@testable import Aegis
import Testing
@testable import Sim

/// The shared log of every Raft group on a node, on a simulated disk: one sync for a
/// round of many groups, per-group snapshots, tombstones that survive restarts, segments
/// dropped only once no group needs them, and damage that costs each group only what it
/// could not know committed.
@Suite struct MultiRaftLogStoreTests {
    let simulation: Simulation
    let founders = ClusterConfiguration(voters: [NodeID(1), NodeID(2), NodeID(3)])

    init() throws {
        simulation = try bareSimulation()
    }

    private var disk: SimDisk { simulation.hosts[0].disk! }

    private func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 2, group: ShardID) -> [LogEntry] {
        range.map { LogEntry(index: LogIndex($0), term: Term(term), kind: .command, data: Array("g\(group.rawValue)-\($0)".utf8)) }
    }

    private func groups(_ count: Int) -> [ShardID] { (0..<count).map { ShardID(UInt32($0)) } }

    /// A store with `count` founded groups, each then given entries 2...`last`, one
    /// round (one frame) per index.
    private func filledStore(groups count: Int, last: UInt64, options: MultiRaftLogStore.Options = .init()) throws -> MultiRaftLogStore {
        let store = MultiRaftLogStore(disk: disk, options: options)
        let (recovered, _) = try store.recover()
        #expect(recovered.groups.isEmpty)
        try store.createGroups(groups(count).map { ($0, RaftRecoveredState.bootstrap(founders)) })
        guard last >= 2 else { return store }
        for index in UInt64(2)...last {
            try store.persist(groups(count).map { group in
                MultiRaftLogStore.GroupWrite(group: group, hardState: HardState(term: Term(2), vote: NodeID(1), commit: LogIndex(index - 1)),
                    entries: entries(index...index, group: group), snapshot: nil)
            })
        }
        return store
    }

    private func recovered(_ options: MultiRaftLogStore.Options = .init()) throws -> ([ShardID: RaftRecoveredState], MultiRaftLogStore.RecoveryReport, MultiRaftLogStore.Recovered) {
        let (recovered, report) = try MultiRaftLogStore(disk: disk, options: options).recover()
        var states: [ShardID: RaftRecoveredState] = [:]
        for (group, state) in recovered.groups { states[group] = state }
        return (states, report, recovered)
    }

    @Test func aRoundOfManyGroupsIsOneSyncAndEveryGroupRecovers() throws {
        let store = try filledStore(groups: 200, last: 1)
        let syncsBefore = store.persistSyncs
        try store.persist(groups(200).map { group in
            MultiRaftLogStore.GroupWrite(group: group, hardState: HardState(term: Term(2), vote: NodeID(2), commit: LogIndex(1)),
                entries: entries(2...3, group: group), snapshot: nil)
        })
        #expect(store.persistSyncs == syncsBefore + 1, "200 groups' appends share one sync")
        _ = disk.crash()
        let (states, report, _) = try recovered()
        #expect(report.groups == 200 && !report.isDamaged)
        #expect(states.keys.sorted() == groups(200))
        for group in groups(200) {
            let state = try #require(states[group])
            #expect(state.entries.map(\.index.rawValue) == [1, 2, 3])
            #expect(state.entries.last?.data == Array("g\(group.rawValue)-3".utf8), "no group sees another's entries")
            #expect(state.hardState.vote == NodeID(2) && state.hardState.commit == LogIndex(1))
        }
    }

    private func tombstone(term: UInt64 = 2, last: UInt64) -> MultiRaftLogStore.Tombstone {
        MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(term), vote: NodeID(1), commit: LogIndex(last - 1)),
            lastIndex: LogIndex(last), lastTerm: Term(term))
    }

    @Test func aRemovedGroupStaysRemovedAcrossRestarts() throws {
        let store = try filledStore(groups: 3, last: 4)
        try store.saveSnapshot(ShardID(1), Snapshot(metadata: SnapshotMetadata(index: LogIndex(3), term: Term(2), configuration: founders), data: [7]))
        try store.removeGroup(ShardID(1), leaving: tombstone(last: 4))
        #expect(!disk.exists(MultiRaftLogStore.snapshotName(ShardID(1))), "its snapshot file goes with it")
        _ = disk.crash()
        let (states, report, recovered) = try recovered()
        #expect(states.keys.sorted() == [ShardID(0), ShardID(2)])
        #expect(recovered.tombstones == [ShardID(1)])
        #expect(report.tombstones == 1)
        // And again after a second restart, from the checkpoint a new segment would carry.
        _ = disk.crash()
        #expect(try self.recovered().2.tombstones == [ShardID(1)])
    }

    /// A tombstone keeps the removed replica's term and vote, and the end of its log as
    /// a repair floor; it survives restarts and new segments; a revived group starts
    /// empty from exactly that state, and stays revived across restarts, even when the
    /// segment holding the tombstone is still there to be read first.
    @Test func aTombstoneKeepsTheStateARevivedReplicaStartsFrom() throws {
        var options = MultiRaftLogStore.Options()
        options.segmentBytesMax = 4096
        let store = try filledStore(groups: 2, last: 9, options: options)
        try store.removeGroup(ShardID(1), leaving: tombstone(term: 3, last: 9))
        let kept = try #require(store.tombstone(of: ShardID(1)))
        #expect(kept.hardState.term == Term(3) && kept.hardState.vote == NodeID(1), "term and vote: no second vote in that term")
        #expect(kept.hardState.repairFloor == LogIndex(9) && kept.hardState.repairFloorTerm == Term(3), "the log it gave up is the floor")
        #expect(kept.hardState.commit == .zero, "a new replica's empty log holds nothing committed")
        // Enough rounds of the other group to open new segments (each restates the tombstone).
        for index in UInt64(10)...40 {
            try store.persist([MultiRaftLogStore.GroupWrite(group: ShardID(0), hardState: HardState(term: Term(2), vote: NodeID(1), commit: LogIndex(index - 1)),
                entries: entries(index...index, group: ShardID(0)), snapshot: nil)])
        }
        _ = disk.crash()
        let restarted = MultiRaftLogStore(disk: disk, options: options)
        let (afterCrash, _) = try restarted.recover()
        #expect(afterCrash.tombstones == [ShardID(1)])
        #expect(restarted.tombstone(of: ShardID(1)) == kept, "the tombstone's state survives restarts and checkpoints")

        let revived = try restarted.reviveGroup(ShardID(1))
        #expect(revived.hardState == kept.hardState && revived.entries.isEmpty && revived.snapshot.metadata.index == .zero)
        #expect(!restarted.isRemoved(ShardID(1)))
        try restarted.persist([MultiRaftLogStore.GroupWrite(group: ShardID(1), hardState: HardState(term: Term(4), vote: NodeID(2), commit: .zero),
            entries: [], snapshot: nil)])
        _ = disk.crash()
        let (states, report, recovered) = try self.recovered(options)
        #expect(recovered.tombstones.isEmpty, "revived, not removed")
        #expect(report.tombstones == 0)
        let state = try #require(states[ShardID(1)])
        #expect(state.hardState.term == Term(4) && state.hardState.vote == NodeID(2))
        #expect(state.entries.isEmpty, "none of the old replica's entries come back")
        #expect(states[ShardID(0)]?.entries.last?.index == LogIndex(40))
    }

    /// The floor a tombstone keeps is the more up to date of the log's end and a floor the
    /// replica still had from damage; an unknown floor term stays unknown.
    @Test func aTombstoneKeepsTheFurthestFloor() {
        let plain = MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(5)), lastIndex: LogIndex(12), lastTerm: Term(4))
        #expect(plain.hardState.repairFloor == LogIndex(12) && plain.hardState.repairFloorTerm == Term(4))
        let empty = MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(5)), lastIndex: .zero, lastTerm: .zero)
        #expect(empty.hardState.repairFloor == .zero, "a replica that never held an entry acknowledged none")
        let damagedFurther = MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(5), repairFloor: LogIndex(20), repairFloorTerm: Term(5)),
            lastIndex: LogIndex(12), lastTerm: Term(4))
        #expect(damagedFurther.hardState.repairFloor == LogIndex(20) && damagedFurther.hardState.repairFloorTerm == Term(5))
        let damagedBehind = MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(5), repairFloor: LogIndex(3), repairFloorTerm: Term(2)),
            lastIndex: LogIndex(12), lastTerm: Term(4))
        #expect(damagedBehind.hardState.repairFloor == LogIndex(12) && damagedBehind.hardState.repairFloorTerm == Term(4))
        let unknown = MultiRaftLogStore.Tombstone(hardState: HardState(term: Term(5), repairFloor: LogIndex(3), repairFloorTerm: .unknown),
            lastIndex: LogIndex(12), lastTerm: Term(4))
        #expect(unknown.hardState.repairFloorTerm == .unknown, "a floor whose term is unknown grants no votes; it stays so")
    }

    @Test func segmentsAreDroppedOnlyOnceEveryGroupsSnapshotCoversThem() throws {
        var options = MultiRaftLogStore.Options()
        options.segmentBytesMax = 4096
        let store = try filledStore(groups: 2, last: 60, options: options)
        let segmentsBefore = store.segmentCount
        #expect(segmentsBefore > 4)
        #expect(store.groupsPinningOldestSegment(segmentsMax: 2) == [ShardID(0), ShardID(1)])
        // One group's snapshot is not enough: the other still needs the old entries.
        try store.saveSnapshot(ShardID(0), Snapshot(metadata: SnapshotMetadata(index: LogIndex(55), term: Term(2), configuration: founders), data: [0]))
        #expect(store.segmentCount == segmentsBefore)
        #expect(store.groupsPinningOldestSegment(segmentsMax: 2) == [ShardID(1)], "the group that must snapshot is named")
        try store.saveSnapshot(ShardID(1), Snapshot(metadata: SnapshotMetadata(index: LogIndex(50), term: Term(2), configuration: founders), data: [1]))
        #expect(store.segmentCount < segmentsBefore)
        _ = disk.crash()
        let (states, report, _) = try recovered(options)
        #expect(!report.isDamaged)
        #expect(states[ShardID(0)]?.snapshot.metadata.index == LogIndex(55))
        #expect(states[ShardID(0)]?.entries.map(\.index.rawValue) == Array(56...60))
        #expect(states[ShardID(1)]?.snapshot.metadata.index == LogIndex(50))
        #expect(states[ShardID(1)]?.snapshot.data == [1])
        #expect(states[ShardID(1)]?.entries.map(\.index.rawValue) == Array(51...60))
        #expect(states[ShardID(1)]?.hardState.vote == NodeID(1), "hard states survive the segments that first held them")
    }

    @Test func aDamagedFrameCutsEveryGroupToWhatItKnewCommitted() throws {
        _ = try filledStore(groups: 2, last: 12)
        let name = try #require(try disk.list().first { $0.hasPrefix("mraft-log-") })
        let file = try disk.open(name)
        var bytes = try disk.read(file, offset: 0, count: try disk.size(file))
        // Both copies of a frame in the middle: every byte past the midpoint, flipped.
        for offset in stride(from: bytes.count / 2, to: bytes.count * 3 / 4, by: 64) { bytes[offset] ^= 0x5A }
        try disk.write(file, offset: 0, bytes: bytes)
        try disk.sync(file)
        disk.close(file)
        _ = disk.crash()
        let (states, report, _) = try recovered()
        #expect(report.logDamaged)
        #expect(report.groupsRepairing == 2)
        for group in groups(2) {
            let state = try #require(states[group])
            #expect(state.hardState.repairFloor == LogIndex(12), "votes are judged against the tail it had")
            #expect(state.entries.count < 12)
            #expect(state.entries.last.map { $0.index <= state.hardState.commit } ?? true)
        }
        let (again, againReport, _) = try recovered()
        #expect(!againReport.logDamaged, "the repaired state was rewritten at once")
        #expect(again[ShardID(0)]?.hardState.repairFloor == LogIndex(12))
    }

    /// A follower with uncommitted entries of an old term is sent a snapshot that
    /// replaces its log; recovery must not put those entries back after it (found by
    /// shard-bank seed 678: the replay started from the snapshot file and appended the
    /// older frames' entries to it).
    @Test func anInstalledSnapshotDropsTheEntriesItReplacedAcrossRestarts() throws {
        let store = MultiRaftLogStore(disk: disk)
        _ = try store.recover()
        try store.createGroups(groups(2).map { ($0, RaftRecoveredState.bootstrap(founders)) })
        try store.persist(groups(2).map { group in
            MultiRaftLogStore.GroupWrite(group: group, hardState: HardState(term: Term(2), vote: NodeID(1), commit: LogIndex(4)),
                entries: entries(2...12, term: 2, group: group), snapshot: nil)
        })
        let installed = Snapshot(metadata: SnapshotMetadata(index: LogIndex(8), term: Term(3), configuration: founders), data: [8])
        try store.persist([MultiRaftLogStore.GroupWrite(group: ShardID(0), hardState: HardState(term: Term(3), vote: nil, commit: LogIndex(8)),
            entries: [], snapshot: installed)])
        _ = disk.crash()
        let (states, report, _) = try recovered()
        #expect(!report.isDamaged)
        let replaced = try #require(states[ShardID(0)])
        #expect(replaced.snapshot.metadata.index == LogIndex(8) && replaced.snapshot.metadata.term == Term(3))
        #expect(replaced.entries.isEmpty, "entries 9...12 of term 2 were replaced by the snapshot")
        let untouched = try #require(states[ShardID(1)])
        #expect(untouched.entries.map(\.index.rawValue) == Array(1...12), "the other group keeps its whole log")
    }

    @Test func aFirstStartThatNeverBecameDurableStartsAfresh() throws {
        let store = MultiRaftLogStore(disk: disk)
        _ = try store.recover()
        let (states, report, _) = try recovered()
        #expect(states.isEmpty && report == MultiRaftLogStore.RecoveryReport())
    }
}
