/// The Raft log, term and vote on the Disk door.
///
/// Files (flat directory):
/// - `raft-log-NNNNNNNN-SSSSSSSSSSSSSSSS`: the segments of a `FrameLog` (every frame
///   written twice, so a torn tail and later damage can be told apart). Each frame is a
///   `RaftFrame`: the hard state, optionally the snapshot the log now starts after, and a
///   run of entries that replaces the log from its first index.
/// - `raft-snapshot`: the latest snapshot (`RaftSnapshotFile`, two copies), replaced by
///   writing `raft-snapshot.tmp`, syncing it, renaming it over, and syncing the directory.
///
/// Recovery replays the frames in order. A torn frame at the very end was never synced,
/// so never acknowledged: it is cut off. A frame damaged anywhere else, or a damaged
/// snapshot, is corruption: the log is cut to what it knew committed before the damage,
/// and the node's repair floor is set to the tail it had, so that it neither campaigns
/// nor votes for a less up-to-date log until a leader has repaired it. The repaired
/// state is rewritten at once, so the damage is not found again at the next start.
public final class RaftLogStore {
    public struct Options: Sendable, Equatable {
        public var segmentBytesMax = 1 << 20
        /// Planted bug: write without syncing.
        public var skipSync = false

        public init() {}
    }

    /// What recovery found, for the trace and for coverage.
    public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
        public var segments = 0
        public var frames = 0
        /// Frame copies found damaged or missing and rewritten from their twin.
        public var twinCopiesUsed = 0
        public var tornTailBytes = 0
        public var corruptFrames = 0
        public var snapshotDamaged = false
        public var snapshotIndex = LogIndex.zero
        public var lastIndex = LogIndex.zero
        public var repairFloor = LogIndex.zero

        public var isDamaged: Bool { corruptFrames > 0 || snapshotDamaged }

        public var description: String {
            var parts = ["segments=\(segments) frames=\(frames) snapshot=\(snapshotIndex.rawValue) last=\(lastIndex.rawValue)"]
            if twinCopiesUsed > 0 { parts.append("twin-copies-used=\(twinCopiesUsed)") }
            if tornTailBytes > 0 { parts.append("torn-tail-cut=\(tornTailBytes)B") }
            if corruptFrames > 0 { parts.append("corrupt-frames=\(corruptFrames)") }
            if snapshotDamaged { parts.append("snapshot-damaged") }
            if repairFloor != .zero { parts.append("repair-floor=\(repairFloor.rawValue)") }
            return parts.joined(separator: " ")
        }
    }

    static let segmentPrefix = "raft-log"
    static let snapshotName = "raft-snapshot"
    static let snapshotTemporaryName = "raft-snapshot.tmp"

    let disk: any Disk
    let options: Options
    let log: FrameLog
    /// The snapshot the log now starts after, as durable.
    private var snapshotIndex = LogIndex.zero

    public init(disk: any Disk, options: Options = Options()) {
        self.disk = disk
        self.options = options
        var logOptions = FrameLog.Options()
        logOptions.segmentBytesMax = options.segmentBytesMax
        logOptions.skipSync = options.skipSync
        log = FrameLog(disk: disk, prefix: RaftLogStore.segmentPrefix, options: logOptions)
    }

    /// A frame's tag: the highest log index it speaks of, for dropping covered segments.
    static func tag(of frame: RaftFrame) -> UInt64 {
        max(frame.entries.last?.index.rawValue ?? 0, frame.snapshotBase?.index.rawValue ?? 0)
    }

    // MARK: recovery

    /// Reads what is on disk. With nothing there, returns `bootstrap`.
    public func recover(bootstrap: ClusterConfiguration) throws(DiskError) -> (RaftRecoveredState, RecoveryReport) {
        var report = RecoveryReport()
        let names = try disk.list()
        if names.contains(RaftLogStore.snapshotTemporaryName) {
            try disk.remove(RaftLogStore.snapshotTemporaryName)
        }
        let hasSegments = names.contains { log.parseSegmentName($0) != nil }
        var snapshot: Snapshot?
        if names.contains(RaftLogStore.snapshotName) {
            if let (found, repaired) = try RaftSnapshotFile.read(disk: disk, name: RaftLogStore.snapshotName) {
                snapshot = found
                if repaired { report.twinCopiesUsed += 1 }
            } else {
                report.snapshotDamaged = true
            }
        }
        if !hasSegments && snapshot == nil && !report.snapshotDamaged {
            return (try bootstrapFresh(bootstrap), report)
        }

        let recovery = try log.recover { frame in
            (try? RaftFrame.decodePayload(frame.payload)).map(RaftLogStore.tag) ?? 0
        }
        report.segments = recovery.segments
        report.twinCopiesUsed += recovery.copiesRepaired
        report.tornTailBytes = recovery.tornTailBytes
        var damaged = recovery.damaged
        var replay = Replay(snapshot: snapshot)
        var undecodable = false
        for frame in recovery.frames {
            guard !undecodable, let decoded = try? RaftFrame.decodePayload(frame.payload) else {
                // A checksummed payload that does not decode: treat it as damage too.
                undecodable = true
                damaged = true
                continue
            }
            replay.apply(decoded)
            replay.noteSeen(decoded)
            report.frames += 1
        }
        for frame in recovery.framesAfterDamage {
            if let decoded = try? RaftFrame.decodePayload(frame.payload) { replay.noteSeen(decoded) }
        }
        if damaged { report.corruptFrames += 1 }

        if !damaged && report.frames == 0 && !report.snapshotDamaged && (snapshot?.metadata.index ?? .zero) == .zero {
            // The first start crashed before its first frame was synced: nothing was
            // ever promised, so start afresh.
            report = RecoveryReport()
            return (try bootstrapFresh(bootstrap), report)
        }
        var state = replay.finish()
        if report.snapshotDamaged || replay.snapshotMissing || !hasSegments {
            damaged = true
        }
        if damaged {
            state = replay.repairedState(snapshotUsable: !report.snapshotDamaged && !replay.snapshotMissing,
                lastFrameReadable: recovery.newestFrameReadable)
            report.repairFloor = state.hardState.repairFloor
            try rewrite(state)
        } else {
            snapshotIndex = state.snapshot.metadata.index
            if log.segmentCount > 1, log.activeSegmentIsEmpty {
                // The newest segment lost its only frame: restate the hard state in it,
                // so that dropping older segments can never lose the term and vote.
                try log.append(RaftFrame(hardState: state.hardState).payload, tag: 0, forceSync: true)
            }
        }
        report.snapshotIndex = state.snapshot.metadata.index
        report.lastIndex = LogIndex(state.snapshot.metadata.index.rawValue + UInt64(state.entries.count))
        return (state, report)
    }

    /// Writes a new node's first state: one segment holding the bootstrap frame.
    private func bootstrapFresh(_ configuration: ClusterConfiguration) throws(DiskError) -> RaftRecoveredState {
        let state = RaftRecoveredState.bootstrap(configuration)
        try log.startFresh()
        let frame = RaftFrame(hardState: state.hardState, entries: state.entries)
        try log.append(frame.payload, tag: RaftLogStore.tag(of: frame), forceSync: true)
        return state
    }

    /// Rebuilds the log from frames and the snapshot file.
    struct Replay {
        let snapshotFile: Snapshot?
        var base: (index: LogIndex, term: Term) = (.zero, .zero)
        var entries: [LogEntry] = []
        var hardState = HardState()
        /// Over every readable frame, even past damage.
        var latestHardState = HardState()
        var highestIndexSeen = LogIndex.zero
        /// The log's last entry as the newest readable frames tell it, across damage.
        var tailSeen: (index: LogIndex, term: Term)?
        var snapshotMissing = false

        init(snapshot: Snapshot?) {
            snapshotFile = snapshot
            if let snapshot { base = (snapshot.metadata.index, snapshot.metadata.term) }
        }

        var lastIndex: LogIndex { LogIndex(base.index.rawValue + UInt64(entries.count)) }

        mutating func noteSeen(_ frame: RaftFrame) {
            if frame.hardState.term >= latestHardState.term { latestHardState = frame.hardState }
            highestIndexSeen = max(highestIndexSeen, frame.entries.last?.index ?? .zero, frame.hardState.repairFloor)
            if let marker = frame.snapshotBase {
                highestIndexSeen = max(highestIndexSeen, marker.index)
                tailSeen = marker
            }
            if let last = frame.entries.last { tailSeen = (last.index, last.term) }
        }

        /// Replays one frame. Its marker is an install (a snapshot from the leader that
        /// replaced the whole log, as every marker of a single group's store is) or a
        /// restatement of where the log starts (the multi-Raft store's checkpoints).
        /// The replay starts from the snapshot file, which may be newer than the
        /// frames before it: an install therefore drops every entry replayed so far
        /// (written before it, whatever the file's index), while a restatement only
        /// moves the start forward, keeping the entries that agree with it.
        mutating func apply(_ frame: RaftFrame, markerIsInstall: Bool = true) {
            hardState = frame.hardState
            if let marker = frame.snapshotBase {
                if markerIsInstall {
                    entries.removeAll()
                    if marker.index > base.index { base = marker }
                } else if marker.index > base.index {
                    if let position = position(of: marker.index), entries[position].term == marker.term {
                        entries.removeSubrange(0...position)
                    } else {
                        entries.removeAll()
                    }
                    base = marker
                }
            }
            // The frame's entries replace the log from their first index — which may be
            // at or below the start when the replay starts from a newer snapshot file:
            // then everything replayed past the start was replaced too (found by
            // shard-bank seed 186: entries of a deposed leader outlived their overwrite).
            if let first = frame.entries.first?.index, first <= lastIndex {
                if first <= base.index {
                    entries.removeAll()
                } else {
                    entries.removeSubrange(Int(first.rawValue - base.index.rawValue - 1)...)
                }
            }
            for entry in frame.entries where entry.index == lastIndex.next { entries.append(entry) }
        }

        private func position(of index: LogIndex) -> Int? {
            guard index > base.index, index <= lastIndex else { return nil }
            return Int(index.rawValue - base.index.rawValue - 1)
        }

        /// The state when nothing was damaged.
        mutating func finish() -> RaftRecoveredState {
            let snapshot: Snapshot
            if let file = snapshotFile, file.metadata.index >= base.index {
                if file.metadata.index > base.index {
                    if let position = position(of: file.metadata.index), entries[position].term == file.metadata.term {
                        entries.removeSubrange(0...position)
                    } else {
                        entries.removeAll()
                    }
                }
                snapshot = file
            } else if base.index == .zero {
                snapshot = Snapshot(metadata: .empty, data: [])
            } else {
                // The log starts after a snapshot the file does not hold.
                snapshotMissing = true
                snapshot = Snapshot(metadata: .empty, data: [])
                entries.removeAll()
            }
            var state = hardState
            state.commit = min(state.commit, LogIndex(snapshot.metadata.index.rawValue + UInt64(entries.count)))
            state.commit = max(state.commit, snapshot.metadata.index)
            Replay.raiseTerm(&state, toAtLeast: snapshot.metadata.term)
            return RaftRecoveredState(hardState: state, snapshot: snapshot, entries: entries)
        }

        /// A snapshot from the leader is written (and synced) before the frame with the
        /// term that came with it; a crash between the two leaves a snapshot of a newer
        /// term than the hard state (found by list-append seed 449: the node then led an
        /// older term with a newer log). The term the snapshot proves is taken, without
        /// a vote: a vote in it would have been in the lost frame, and votes are sent
        /// only once persisted, so none was cast.
        static func raiseTerm(_ state: inout HardState, toAtLeast term: Term) {
            guard term > state.term else { return }
            state.term = term
            state.vote = nil
        }

        /// The state after damage: the readable prefix (or nothing, without a usable
        /// snapshot), the newest term and vote seen anywhere, and a repair floor.
        func repairedState(snapshotUsable: Bool, lastFrameReadable: Bool) -> RaftRecoveredState {
            var state = latestHardState
            let snapshot = snapshotUsable ? snapshotFile ?? Snapshot(metadata: .empty, data: []) : Snapshot(metadata: .empty, data: [])
            // Only what the readable prefix knew committed is kept: an entry past that may
            // have been truncated and replaced by a frame after the damage, and a
            // committed entry never is.
            let prefixCommit = hardState.commit
            var kept: [LogEntry] = []
            if snapshotUsable {
                var copy = self
                kept = copy.finish().entries.filter { $0.index <= prefixCommit }
            }
            let last = LogIndex(snapshot.metadata.index.rawValue + UInt64(kept.count))
            // Vote as if the log still ended where the newest readable frame left it —
            // unless an earlier damage is still unrepaired, or the newest frames are the
            // damaged ones.
            if latestHardState.isDamaged {
                state.repairFloor = latestHardState.repairFloor
                state.repairFloorTerm = latestHardState.repairFloorTerm
                if let tail = tailSeen, state.repairFloorTerm != .unknown,
                   tail.term > state.repairFloorTerm || (tail.term == state.repairFloorTerm && tail.index > state.repairFloor) {
                    (state.repairFloor, state.repairFloorTerm) = tail
                }
            } else if let tail = tailSeen, lastFrameReadable {
                (state.repairFloor, state.repairFloorTerm) = tail
            } else {
                state.repairFloor = max(highestIndexSeen, last.next)
                state.repairFloorTerm = .unknown
            }
            if state.repairFloor == .zero {
                state.repairFloor = LogIndex(1)
                state.repairFloorTerm = .zero
            }
            state.commit = min(max(prefixCommit, snapshot.metadata.index), last)
            Replay.raiseTerm(&state, toAtLeast: snapshot.metadata.term)
            return RaftRecoveredState(hardState: state, snapshot: snapshot, entries: kept)
        }
    }

    /// Replaces everything on disk by one fresh segment holding `state`.
    private func rewrite(_ state: RaftRecoveredState) throws(DiskError) {
        if state.snapshot.metadata.index == .zero, disk.exists(RaftLogStore.snapshotName) {
            // Damaged: the leader will send a whole snapshot.
            try disk.remove(RaftLogStore.snapshotName)
        }
        snapshotIndex = state.snapshot.metadata.index
        let frame = RaftFrame(hardState: state.hardState,
            snapshotBase: (state.snapshot.metadata.index, state.snapshot.metadata.term), entries: state.entries)
        try log.rewrite([(frame.payload, RaftLogStore.tag(of: frame))])
    }

    // MARK: writing

    /// Persists what a Ready asks for: a snapshot from the leader first (file, then a
    /// frame saying the log starts after it), then the hard state and entries. Synced
    /// before it returns.
    public func persist(hardState: HardState, entries: [LogEntry], snapshot: Snapshot?) throws(DiskError) {
        var base: (index: LogIndex, term: Term)?
        if let snapshot {
            try saveSnapshotFile(snapshot)
            base = (snapshot.metadata.index, snapshot.metadata.term)
        }
        var remaining = entries[...]
        repeat {
            var batch: [LogEntry] = []
            var bytes = 0
            while let entry = remaining.first, batch.isEmpty || bytes + entry.encodedSize <= FrameLog.payloadMax / 2 {
                batch.append(entry)
                bytes += entry.encodedSize
                remaining = remaining.dropFirst()
            }
            let frame = RaftFrame(hardState: hardState, snapshotBase: base, entries: batch)
            try log.append(frame.payload, tag: RaftLogStore.tag(of: frame))
            base = nil
        } while !remaining.isEmpty
        if snapshot != nil { try log.dropSegments(taggedAtMost: snapshotIndex.rawValue) }
    }

    private func saveSnapshotFile(_ snapshot: Snapshot) throws(DiskError) {
        try RaftSnapshotFile.write(snapshot, disk: disk, name: RaftLogStore.snapshotTemporaryName, sync: true)
        try disk.rename(RaftLogStore.snapshotTemporaryName, to: RaftLogStore.snapshotName)
        try disk.syncDirectory()
        snapshotIndex = max(snapshotIndex, snapshot.metadata.index)
    }

    /// Saves a snapshot the application took, then deletes the segments it covers.
    public func saveSnapshot(_ snapshot: Snapshot) throws(DiskError) {
        try saveSnapshotFile(snapshot)
        try log.dropSegments(taggedAtMost: snapshotIndex.rawValue)
    }

    /// Bytes in segments, for figures.
    public var logBytes: Int { log.byteCount }
}
