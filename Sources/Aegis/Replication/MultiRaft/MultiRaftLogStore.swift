/// The Raft logs of every group a node hosts, in one `FrameLog`, so that one sync makes
/// the writes of many groups durable (a node with hundreds of groups pays one fsync per
/// round of work, not one per group).
///
/// Files (flat directory):
/// - `mraft-log-NNNNNNNN-SSSSSSSSSSSSSSSS`: the segments. Each frame holds records, each
///   for one group: a `RaftFrame` (hard state, optionally the snapshot its log now starts
///   after, and entries replacing its log from their first index), marked when that
///   snapshot is an install from the leader (everything logged before it is replaced)
///   rather than a restatement; a tombstone (the group left this node: its messages are
///   ignored from then on), holding the hard state a later replica must start from
///   (`Tombstone`); or a revival (the group comes back here as a new, empty replica
///   that starts from its tombstone's state).
/// - `mraft-snap-GGGGGGGG`: group G's latest snapshot (`RaftSnapshotFile`), replaced by
///   writing `mraft-snap-GGGGGGGG.tmp`, syncing, renaming and syncing the directory.
///
/// The first frame of every segment restates every group (hard state and snapshot base)
/// and every tombstone, so a segment can be dropped once every group has a snapshot
/// covering all its entries in it: what the segment said of anything else is said
/// again later. A group that never snapshots would keep old segments forever;
/// `groupsPinningOldestSegment` names them, so the node can make them compact.
///
/// Recovery is `RaftLogStore`'s, per group: a torn tail is cut; damage to a synced frame
/// could have hit any group's records, so every group is then cut to what it knew
/// committed and gets a repair floor (see `HardState.repairFloor`), and the repaired
/// state is rewritten at once. A damaged or missing snapshot file damages its group
/// alone.
public final class MultiRaftLogStore {
    /// The same knobs as a single group's store: segment size and the no-sync bug.
    public typealias Options = RaftLogStore.Options

    /// What recovery found, summed over the groups, for the trace and for coverage.
    public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
        public var segments = 0
        public var frames = 0
        public var groups = 0
        public var tombstones = 0
        public var twinCopiesUsed = 0
        public var tornTailBytes = 0
        /// The log had a damaged synced frame (every group was cut and got a repair floor).
        public var logDamaged = false
        /// Groups whose snapshot file was damaged or missing.
        public var snapshotsDamaged = 0
        /// Groups that came back with a repair floor.
        public var groupsRepairing = 0

        public var isDamaged: Bool { logDamaged || snapshotsDamaged > 0 }

        public var description: String {
            var parts = ["segments=\(segments) frames=\(frames) groups=\(groups)"]
            if tombstones > 0 { parts.append("tombstones=\(tombstones)") }
            if twinCopiesUsed > 0 { parts.append("twin-copies-used=\(twinCopiesUsed)") }
            if tornTailBytes > 0 { parts.append("torn-tail-cut=\(tornTailBytes)B") }
            if logDamaged { parts.append("log-damaged") }
            if snapshotsDamaged > 0 { parts.append("snapshots-damaged=\(snapshotsDamaged)") }
            if groupsRepairing > 0 { parts.append("groups-repairing=\(groupsRepairing)") }
            return parts.joined(separator: " ")
        }
    }

    /// What recovery hands the node: each group's state, in group order, and the groups
    /// that left this node.
    public struct Recovered: Sendable {
        public var groups: [(group: ShardID, state: RaftRecoveredState)]
        public var tombstones: [ShardID]
    }

    /// What a removed replica leaves behind for a later one of the same group on this
    /// node: its term and vote, and as a repair floor the end of the log it had (or its
    /// own floor, if that was further). A new replica that starts from this state (an
    /// empty log) can never vote twice in a term, and, like a node whose log was damaged,
    /// neither campaigns nor votes for a log less up to date than the one it gave up
    /// until a leader has given it its whole log — so acknowledgements the old replica
    /// gave are never undone by the new one's votes.
    public struct Tombstone: Sendable, Equatable {
        public var hardState: HardState

        /// The state a replica with `hardState`, log ending at `lastIndex` of `lastTerm`,
        /// leaves behind.
        public init(hardState: HardState, lastIndex: LogIndex, lastTerm: Term) {
            var state = hardState
            state.commit = .zero
            if hardState.repairFloor == .zero {
                state.repairFloor = lastIndex
                state.repairFloorTerm = lastIndex == .zero ? .zero : lastTerm
            } else if hardState.repairFloorTerm != .unknown,
                      (lastTerm, lastIndex) > (hardState.repairFloorTerm, hardState.repairFloor) {
                state.repairFloor = lastIndex
                state.repairFloorTerm = lastTerm
            }
            self.hardState = state
        }

        init(hardState: HardState) {
            self.hardState = hardState
        }

        /// A tombstone of the first format, which kept nothing: a new replica may not vote
        /// at all until a leader has repaired it (the floor's term is unknown).
        static let unknown = Tombstone(hardState: HardState(repairFloor: LogIndex(1), repairFloorTerm: .unknown))

        /// An empty replica starting from this state, waiting for the leader's snapshot.
        public var revivedState: RaftRecoveredState {
            RaftRecoveredState(hardState: hardState, snapshot: Snapshot(metadata: .empty, data: []), entries: [])
        }
    }

    /// One group's share of a round of work (a `RaftReady`).
    public struct GroupWrite: Sendable {
        public var group: ShardID
        public var hardState: HardState
        public var entries: [LogEntry]
        public var snapshot: Snapshot?

        public init(group: ShardID, hardState: HardState, entries: [LogEntry], snapshot: Snapshot?) {
            self.group = group
            self.hardState = hardState
            self.entries = entries
            self.snapshot = snapshot
        }
    }

    static let segmentPrefix = "mraft-log"
    static let snapshotPrefix = "mraft-snap-"
    static let temporarySuffix = ".tmp"
    static let recordVersion: UInt8 = 1
    static let recordRaft: UInt8 = 0
    /// A tombstone of the first format (no state). Still read; no longer written.
    static let recordTombstoneBare: UInt8 = 1
    /// A `RaftFrame` whose snapshot base is an installed snapshot (the log before it
    /// is replaced), not a restatement.
    static let recordInstall: UInt8 = 2
    /// A tombstone with the state a later replica starts from (a `RaftFrame`'s hard state).
    static let recordTombstone: UInt8 = 3
    /// The group's tombstone is lifted: a new replica starts with this frame's state.
    static let recordRevive: UInt8 = 4
    /// The most groups one node may host (records in a frame are counted against it).
    public static let groupsMax = 100_000

    let disk: any Disk
    let options: Options
    let log: FrameLog

    /// What the log says of each live group now: its hard state and snapshot base.
    private var groups: [ShardID: (hardState: HardState, base: (index: LogIndex, term: Term))] = [:]
    private var tombstones: [ShardID: Tombstone] = [:]
    /// Per segment, oldest first: the highest entry index of each group in it.
    private var segmentContents: [(number: UInt64, highestIndex: [ShardID: LogIndex])] = []
    /// Syncs done by `persist`, for figures (one per round, however many groups).
    public private(set) var persistSyncs = 0

    public init(disk: any Disk, options: Options = Options()) {
        self.disk = disk
        self.options = options
        var logOptions = FrameLog.Options()
        logOptions.segmentBytesMax = options.segmentBytesMax
        logOptions.skipSync = options.skipSync
        log = FrameLog(disk: disk, prefix: MultiRaftLogStore.segmentPrefix, options: logOptions)
    }

    static func snapshotName(_ group: ShardID) -> String {
        let digits = String(group.rawValue)
        return snapshotPrefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    static func group(ofSnapshotFile name: String) -> ShardID? {
        guard name.hasPrefix(snapshotPrefix), !name.hasSuffix(temporarySuffix) else { return nil }
        let digits = name.dropFirst(snapshotPrefix.count)
        guard digits.count == 8, let raw = UInt32(digits) else { return nil }
        return ShardID(raw)
    }

    public var hostedGroups: [ShardID] { groups.keys.sorted() }
    public var removedGroups: [ShardID] { tombstones.keys.sorted() }
    public func isRemoved(_ group: ShardID) -> Bool { tombstones[group] != nil }
    public func tombstone(of group: ShardID) -> Tombstone? { tombstones[group] }
    public var segmentCount: Int { log.segmentCount }
    public var logBytes: Int { log.byteCount }

    // MARK: records

    struct Record {
        enum Kind: Equatable {
            case raft
            /// The frame's snapshot base is an install from the leader.
            case install
            /// The frame's hard state is the tombstone's.
            case tombstone
            case revive
        }

        var group: ShardID
        var kind: Kind
        var frame: RaftFrame

        static func raft(_ group: ShardID, _ frame: RaftFrame, installs: Bool = false) -> Record {
            Record(group: group, kind: installs ? .install : .raft, frame: frame)
        }

        static func tombstone(_ group: ShardID, _ tombstone: Tombstone) -> Record {
            Record(group: group, kind: .tombstone, frame: RaftFrame(hardState: tombstone.hardState))
        }

        var tombstone: Tombstone? { kind == .tombstone ? Tombstone(hardState: frame.hardState) : nil }
    }

    static func encode(_ records: [Record]) -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(recordVersion)
        writer.write(UInt32(records.count))
        for record in records {
            writer.write(record.group.rawValue)
            switch record.kind {
            case .raft: writer.write(recordRaft)
            case .install: writer.write(recordInstall)
            case .tombstone: writer.write(recordTombstone)
            case .revive: writer.write(recordRevive)
            }
            writer.write(lengthPrefixed: record.frame.payload)
        }
        return writer.bytes
    }

    static func decode(_ payload: [UInt8]) throws(DecodeError) -> [Record] {
        var reader = ByteReader(payload)
        guard try reader.readUInt8() == recordVersion else { throw .invalid("unknown multi-Raft frame version") }
        let count = Int(try reader.readUInt32())
        guard count <= groupsMax * 2 else { throw .invalid("\(count) records in one frame") }
        var records: [Record] = []
        for _ in 0..<count {
            let group = ShardID(try reader.readUInt32())
            let kind: Record.Kind
            switch try reader.readUInt8() {
            case recordTombstoneBare:
                records.append(Record.tombstone(group, .unknown))
                continue
            case recordRaft: kind = .raft
            case recordInstall: kind = .install
            case recordTombstone: kind = .tombstone
            case recordRevive: kind = .revive
            default: throw .invalid("unknown record kind")
            }
            let bytes = try reader.readLengthPrefixed(maximumCount: FrameLog.payloadMax)
            let frame = try RaftFrame.decodePayload(bytes)
            guard kind != .install || frame.snapshotBase != nil else { throw .invalid("an install record without a snapshot") }
            guard kind == .raft || kind == .install || (frame.snapshotBase == nil && frame.entries.isEmpty) else {
                throw .invalid("a tombstone or revival record with log entries")
            }
            records.append(Record(group: group, kind: kind, frame: frame))
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes in a multi-Raft frame") }
        return records
    }

    // MARK: recovery

    /// Reads what is on disk: every group's state and the tombstones. An empty directory
    /// (or one whose first frame never became durable) gives no groups.
    public func recover() throws(DiskError) -> (Recovered, RecoveryReport) {
        var report = RecoveryReport()
        groups.removeAll()
        tombstones.removeAll()
        segmentContents.removeAll()
        var snapshotFiles: [ShardID: Snapshot] = [:]
        var damagedSnapshots: Set<ShardID> = []
        for name in try disk.list() {
            if name.hasPrefix(MultiRaftLogStore.snapshotPrefix), name.hasSuffix(MultiRaftLogStore.temporarySuffix) {
                try disk.remove(name)
                continue
            }
            guard let group = MultiRaftLogStore.group(ofSnapshotFile: name) else { continue }
            if let (snapshot, repaired) = try RaftSnapshotFile.read(disk: disk, name: name) {
                snapshotFiles[group] = snapshot
                if repaired { report.twinCopiesUsed += 1 }
            } else {
                damagedSnapshots.insert(group)
            }
        }
        let recovery = try log.recover { _ in 0 }
        report.segments = recovery.segments
        report.twinCopiesUsed += recovery.copiesRepaired
        report.tornTailBytes = recovery.tornTailBytes
        var logDamaged = recovery.damaged
        var replays: [ShardID: RaftLogStore.Replay] = [:]
        var undecodable = false
        func replay(of group: ShardID) -> RaftLogStore.Replay {
            replays[group] ?? RaftLogStore.Replay(snapshot: snapshotFiles[group])
        }
        for frame in recovery.frames {
            guard !undecodable, let records = try? MultiRaftLogStore.decode(frame.payload) else {
                undecodable = true
                logDamaged = true
                continue
            }
            report.frames += 1
            var highest: [ShardID: LogIndex] = [:]
            for record in records {
                if let tombstone = record.tombstone {
                    tombstones[record.group] = tombstone
                    replays[record.group] = nil
                    continue
                }
                if record.kind == .revive, tombstones.removeValue(forKey: record.group) != nil {
                    // The old replica's snapshot file went with its tombstone; the new one
                    // starts empty.
                    replays[record.group] = RaftLogStore.Replay(snapshot: nil)
                }
                guard tombstones[record.group] == nil else { continue }
                let raftFrame = record.frame
                var groupReplay = replay(of: record.group)
                groupReplay.apply(raftFrame, markerIsInstall: record.kind == .install)
                groupReplay.noteSeen(raftFrame)
                replays[record.group] = groupReplay
                if let last = raftFrame.entries.last { highest[record.group] = max(highest[record.group] ?? .zero, last.index) }
            }
            noteContents(segment: frame.segment, highest)
        }
        for frame in recovery.framesAfterDamage {
            guard let records = try? MultiRaftLogStore.decode(frame.payload) else { continue }
            for record in records {
                guard record.kind == .raft || record.kind == .install, tombstones[record.group] == nil else { continue }
                let raftFrame = record.frame
                var groupReplay = replay(of: record.group)
                groupReplay.noteSeen(raftFrame)
                replays[record.group] = groupReplay
            }
        }
        if report.frames == 0 && !logDamaged {
            // Nothing was ever durable: a node that never started (or crashed before its
            // first frame was synced). Leftover snapshot files belong to nothing.
            for group in snapshotFiles.keys.sorted() { try disk.remove(MultiRaftLogStore.snapshotName(group)) }
            for group in damagedSnapshots.sorted() { try disk.remove(MultiRaftLogStore.snapshotName(group)) }
            try log.startFresh()
            segmentContents = [(log.segmentNumbers.last ?? 1, [:])]
            return (Recovered(groups: [], tombstones: []), RecoveryReport())
        }
        for group in (snapshotFiles.keys.sorted() + damagedSnapshots.sorted()) where tombstones[group] != nil {
            try disk.remove(MultiRaftLogStore.snapshotName(group))
        }
        for group in snapshotFiles.keys.sorted() where replays[group] == nil && tombstones[group] == nil {
            // A group created (its first snapshot written) whose first record never became durable.
            replays[group] = replay(of: group)
        }

        var states: [(group: ShardID, state: RaftRecoveredState)] = []
        var anyRepaired = logDamaged
        for group in replays.keys.sorted() {
            var groupReplay = replays[group]!
            var state = groupReplay.finish()
            let snapshotDamaged = damagedSnapshots.contains(group) || groupReplay.snapshotMissing
            if snapshotDamaged { report.snapshotsDamaged += 1 }
            if logDamaged || snapshotDamaged {
                state = groupReplay.repairedState(snapshotUsable: !damagedSnapshots.contains(group) && !groupReplay.snapshotMissing,
                    lastFrameReadable: recovery.newestFrameReadable)
                anyRepaired = true
                if state.snapshot.metadata.index == .zero, disk.exists(MultiRaftLogStore.snapshotName(group)) {
                    try disk.remove(MultiRaftLogStore.snapshotName(group))
                }
            }
            if state.hardState.repairFloor != .zero { report.groupsRepairing += 1 }
            states.append((group, state))
            groups[group] = (state.hardState, (state.snapshot.metadata.index, state.snapshot.metadata.term))
        }
        report.logDamaged = logDamaged
        report.groups = states.count
        report.tombstones = tombstones.count
        if anyRepaired {
            try rewrite(states)
        } else if log.activeSegmentIsEmpty, log.segmentCount > 1 {
            // The newest segment lost its checkpoint: restate everything in it, so that
            // dropping older segments can never lose a hard state or a tombstone.
            try append(records: [], sync: true)
        }
        return (Recovered(groups: states, tombstones: tombstones.keys.sorted()), report)
    }

    private func noteContents(segment: UInt64, _ highest: [ShardID: LogIndex]) {
        if segmentContents.last?.number != segment { segmentContents.append((segment, [:])) }
        for (group, index) in highest {
            let known = segmentContents[segmentContents.count - 1].highestIndex[group] ?? .zero
            segmentContents[segmentContents.count - 1].highestIndex[group] = max(known, index)
        }
    }

    /// The restatement that opens every segment.
    private func checkpointRecords() -> [Record] {
        var records = tombstoneRecords()
        for group in groups.keys.sorted() {
            let known = groups[group]!
            records.append(.raft(group, RaftFrame(hardState: known.hardState, snapshotBase: known.base)))
        }
        return records
    }

    private func tombstoneRecords() -> [Record] {
        tombstones.keys.sorted().map { Record.tombstone($0, tombstones[$0]!) }
    }

    /// Replaces the log by one fresh segment holding every group's state.
    private func rewrite(_ states: [(group: ShardID, state: RaftRecoveredState)]) throws(DiskError) {
        var records = tombstoneRecords()
        for (group, state) in states {
            let base = (state.snapshot.metadata.index, state.snapshot.metadata.term)
            records.append(.raft(group, RaftFrame(hardState: state.hardState, snapshotBase: base, entries: state.entries)))
        }
        var payloads: [(payload: [UInt8], tag: UInt64)] = []
        for chunk in MultiRaftLogStore.chunked(records) { payloads.append((MultiRaftLogStore.encode(chunk), 0)) }
        try log.rewrite(payloads)
        segmentContents.removeAll()
        var highest: [ShardID: LogIndex] = [:]
        for (group, state) in states { if let last = state.entries.last { highest[group] = last.index } }
        segmentContents = [(log.segmentNumbers.last ?? 1, highest)]
    }

    /// Records split so that each frame stays well under the frame limit.
    static func chunked(_ records: [Record]) -> [[Record]] {
        var chunks: [[Record]] = [[]]
        var bytes = 0
        for record in records {
            let size = 80 + record.frame.entries.reduce(0) { $0 + $1.encodedSize }
            if bytes + size > FrameLog.payloadMax / 2, !chunks[chunks.count - 1].isEmpty {
                chunks.append([])
                bytes = 0
            }
            chunks[chunks.count - 1].append(record)
            bytes += size
        }
        return chunks
    }

    // MARK: writing

    /// Appends `records` as frames, each synced before the next is written (so a torn
    /// frame is always the last); the first frame of a new segment starts with the
    /// checkpoint. Returns how many frames it wrote.
    @discardableResult
    private func append(records: [Record], sync: Bool) throws(DiskError) -> Int {
        if log.activeSegmentBytes >= options.segmentBytesMax {
            try log.rotate()
        }
        var all = records
        if log.activeSegmentIsEmpty { all = checkpointRecords() + records }
        let chunks = MultiRaftLogStore.chunked(all)
        for chunk in chunks {
            try log.append(MultiRaftLogStore.encode(chunk), tag: 0, sync: sync && !options.skipSync)
            var highest: [ShardID: LogIndex] = [:]
            for record in chunk {
                if let last = record.frame.entries.last { highest[record.group] = max(highest[record.group] ?? .zero, last.index) }
            }
            noteContents(segment: log.segmentNumbers.last ?? 0, highest)
        }
        return chunks.count
    }

    /// Makes new groups durable: each one's first snapshot (when it starts from one),
    /// then one frame with all their states. A group already hosted or removed is a
    /// programming error.
    public func createGroups(_ created: [(group: ShardID, state: RaftRecoveredState)]) throws(DiskError) {
        guard !created.isEmpty else { return }
        for (group, state) in created {
            precondition(groups[group] == nil && tombstones[group] == nil, "\(group) is already on this node")
            precondition(groups.count < MultiRaftLogStore.groupsMax, "a node hosts at most \(MultiRaftLogStore.groupsMax) groups")
            if state.snapshot.metadata.index != .zero { try saveSnapshotFile(group, state.snapshot) }
        }
        var records: [Record] = []
        for (group, state) in created {
            let base = (state.snapshot.metadata.index, state.snapshot.metadata.term)
            groups[group] = (state.hardState, base)
            records.append(.raft(group, RaftFrame(hardState: state.hardState, snapshotBase: base, entries: state.entries)))
        }
        try append(records: records, sync: true)
        persistSyncs += 1
    }

    /// Lifts a group's tombstone: a new replica starts, empty, from the state the
    /// tombstone kept (`Tombstone.revivedState`), which it returns. Durable on return.
    public func reviveGroup(_ group: ShardID) throws(DiskError) -> RaftRecoveredState {
        guard let tombstone = tombstones[group] else { preconditionFailure("\(group) has no tombstone on this node") }
        precondition(groups[group] == nil, "\(group) is already on this node")
        let state = tombstone.revivedState
        tombstones[group] = nil
        groups[group] = (state.hardState, (.zero, .zero))
        try append(records: [Record(group: group, kind: .revive, frame: RaftFrame(hardState: state.hardState))], sync: true)
        persistSyncs += 1
        return state
    }

    /// Persists one round of work of many groups with one sync (more only when the
    /// round passes the frame limit): snapshots from leaders first (each its own file),
    /// then every group's hard state and entries.
    public func persist(_ writes: [GroupWrite]) throws(DiskError) {
        guard !writes.isEmpty else { return }
        var records: [Record] = []
        var snapshotted = false
        for write in writes {
            precondition(groups[write.group] != nil, "\(write.group) is not on this node")
            var base: (index: LogIndex, term: Term)?
            if let snapshot = write.snapshot {
                try saveSnapshotFile(write.group, snapshot)
                base = (snapshot.metadata.index, snapshot.metadata.term)
                snapshotted = true
            }
            let previousBase = groups[write.group]!.base
            groups[write.group] = (write.hardState, base ?? previousBase)
            records.append(.raft(write.group, RaftFrame(hardState: write.hardState, snapshotBase: base, entries: write.entries),
                installs: base != nil))
        }
        persistSyncs += try append(records: records, sync: true)
        if snapshotted { try dropCoveredSegments() }
    }

    /// Saves a snapshot the application took for `group`, then drops the segments no
    /// group needs any more.
    public func saveSnapshot(_ group: ShardID, _ snapshot: Snapshot) throws(DiskError) {
        precondition(groups[group] != nil, "\(group) is not on this node")
        try saveSnapshotFile(group, snapshot)
        let known = groups[group]!
        if snapshot.metadata.index > known.base.index {
            groups[group] = (known.hardState, (snapshot.metadata.index, snapshot.metadata.term))
        }
        try dropCoveredSegments()
    }

    /// Removes a group: a synced tombstone keeping `tombstone` (its messages are ignored
    /// from now on, across restarts, until `reviveGroup`), then its snapshot file.
    public func removeGroup(_ group: ShardID, leaving tombstone: Tombstone) throws(DiskError) {
        guard groups[group] != nil || tombstones[group] == nil else { return }
        groups[group] = nil
        tombstones[group] = tombstone
        try append(records: [.tombstone(group, tombstone)], sync: true)
        persistSyncs += 1
        if disk.exists(MultiRaftLogStore.snapshotName(group)) {
            try disk.remove(MultiRaftLogStore.snapshotName(group))
            try disk.syncDirectory()
        }
        try dropCoveredSegments()
    }

    private func saveSnapshotFile(_ group: ShardID, _ snapshot: Snapshot) throws(DiskError) {
        let name = MultiRaftLogStore.snapshotName(group)
        let temporary = name + MultiRaftLogStore.temporarySuffix
        try RaftSnapshotFile.write(snapshot, disk: disk, name: temporary, sync: true)
        try disk.rename(temporary, to: name)
        try disk.syncDirectory()
    }

    /// Whether every group's entries in the oldest segment are covered by its snapshot
    /// (or the group is gone).
    private func oldestSegmentIsCovered() -> Bool {
        guard segmentContents.count > 1, let oldest = segmentContents.first else { return false }
        return oldest.highestIndex.allSatisfy { group, index in
            guard let known = groups[group] else { return true }
            return known.base.index >= index
        }
    }

    private func dropCoveredSegments() throws(DiskError) {
        while log.segmentCount > 1, oldestSegmentIsCovered() {
            try log.dropOldestSegment()
            segmentContents.removeFirst()
        }
    }

    /// Groups whose entries keep the oldest segment alive, when there are more than
    /// `segmentsMax` segments: a snapshot of each would let it go.
    public func groupsPinningOldestSegment(segmentsMax: Int) -> [ShardID] {
        guard log.segmentCount > segmentsMax, let oldest = segmentContents.first else { return [] }
        return oldest.highestIndex.keys.filter { group in
            guard let known = groups[group] else { return false }
            return known.base.index < oldest.highestIndex[group]!
        }.sorted()
    }
}
