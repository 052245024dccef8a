/// The Raft log, term and vote on the Disk door.
///
/// Files (flat directory):
/// - `raft-log-NNNNNNNN-SSSSSSSSSSSSSSSS`: segment number NNNNNNNN of frames (see
///   `RaftFrame`), appended and synced frame by frame, whose first frame has sequence
///   SSSS… (hex), so every frame's sequence is known before it is read; a new segment
///   starts past `segmentBytesMax`.
/// - `raft-snapshot`: the latest snapshot (`RaftSnapshotFile`), replaced by writing
///   `raft-snapshot.tmp`, syncing it, renaming it over, and syncing the directory.
///
/// Recovery replays the segments in order. A torn frame at the very end of the last
/// segment is cut off (it was never synced, so never acknowledged). A frame damaged
/// anywhere else, or a damaged snapshot, is corruption: the log is cut at the damage,
/// and the node's repair floor is set to the highest index it had, so that it neither
/// votes nor campaigns until a leader has repaired it. The repaired state is rewritten
/// at once, so the damage is not found again at the next start.
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

    static let segmentPrefix = "raft-log-"
    static let snapshotName = "raft-snapshot"
    static let snapshotTemporaryName = "raft-snapshot.tmp"

    let disk: any Disk
    let options: Options
    private var segments: [Segment] = []
    private var nextSequence: UInt64 = 1
    private var activeFile: DiskFile?
    /// The snapshot the log now starts after, as durable.
    private var snapshotIndex = LogIndex.zero
    /// Each segment's number, first frame sequence, size and highest entry index, oldest first.
    private struct Segment {
        var number: UInt64
        var firstSequence: UInt64
        var size: Int
        var highestIndex: LogIndex

        var name: String { RaftLogStore.segmentName(number, firstSequence: firstSequence) }
    }

    public init(disk: any Disk, options: Options = Options()) {
        self.disk = disk
        self.options = options
    }

    static func segmentName(_ number: UInt64, firstSequence: UInt64) -> String {
        let digits = String(number)
        let hex = String(firstSequence, radix: 16)
        return segmentPrefix + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
            + "-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// (number, first sequence) of a segment file name, or nil for other files.
    static func parseSegmentName(_ name: String) -> (number: UInt64, firstSequence: UInt64)? {
        guard name.hasPrefix(segmentPrefix) else { return nil }
        let parts = name.dropFirst(segmentPrefix.count).split(separator: "-")
        guard parts.count == 2, let number = UInt64(parts[0]), let first = UInt64(parts[1], radix: 16) else { return nil }
        return (number, first)
    }

    // MARK: recovery

    /// Reads what is on disk. With nothing there, returns `bootstrap`.
    public func recover(bootstrap: ClusterConfiguration) throws(DiskError) -> (RaftRecoveredState, RecoveryReport) {
        var report = RecoveryReport()
        let names = try disk.list()
        if names.contains(RaftLogStore.snapshotTemporaryName) {
            try disk.remove(RaftLogStore.snapshotTemporaryName)
        }
        let segmentNumbers = names.compactMap(RaftLogStore.parseSegmentName).sorted { $0.number < $1.number }
        var snapshot: Snapshot?
        if names.contains(RaftLogStore.snapshotName) {
            if let (found, repaired) = try RaftSnapshotFile.read(disk: disk, name: RaftLogStore.snapshotName) {
                snapshot = found
                if repaired { report.twinCopiesUsed += 1 }
            } else {
                report.snapshotDamaged = true
            }
        }
        if segmentNumbers.isEmpty && snapshot == nil && !report.snapshotDamaged {
            return (try bootstrapFresh(bootstrap, number: 1), report)
        }

        var replay = Replay(snapshot: snapshot)
        var expectedSequence: UInt64?
        var damaged = false
        /// Whether the newest frame on disk could be read: only then do the readable
        /// frames tell where the log ended.
        var lastFrameReadable = true
        for (position, (number, firstSequence)) in segmentNumbers.enumerated() {
            let name = RaftLogStore.segmentName(number, firstSequence: firstSequence)
            if let expected = expectedSequence, expected != firstSequence, !damaged {
                // A segment whose frames do not follow the previous one's: frames lost.
                damaged = true
                report.corruptFrames += 1
            }
            expectedSequence = firstSequence
            let file = try disk.open(name)
            let size = try disk.size(file)
            let bytes = try disk.read(file, offset: 0, count: size)
            disk.close(file)
            report.segments += 1
            let isLast = position == segmentNumbers.count - 1
            let scan = RaftLogStore.scan(bytes, sectorSize: disk.sectorSize, firstSequence: firstSequence)
            report.twinCopiesUsed += scan.repairs.count
            var highest = LogIndex.zero
            for frame in scan.frames where !damaged {
                replay.apply(frame)
                report.frames += 1
                highest = max(highest, frame.entries.last?.index ?? .zero)
            }
            for frame in scan.frames + scan.framesAfterDamage {
                replay.noteSeen(frame)
                expectedSequence = frame.sequence + 1
            }
            let tornTail = scan.damageOffset != nil && isLast && scan.framesAfterDamage.isEmpty && !damaged
            if scan.damageOffset != nil && !tornTail {
                damaged = true
                report.corruptFrames += 1
            }
            // Damage followed by no readable frame, here or in a later segment, hit the
            // newest synced frame. (Damage at the end of the last segment is a torn,
            // never-synced frame: the one before it is the newest synced one.)
            if scan.damageOffset != nil && !(isLast && scan.framesAfterDamage.isEmpty) {
                lastFrameReadable = !scan.framesAfterDamage.isEmpty
            } else if !scan.frames.isEmpty {
                lastFrameReadable = true
            }
            if !damaged && (!scan.repairs.isEmpty || tornTail || bytes.count != scan.end) {
                // Restore both copies of every frame, and cut what follows the last one
                // (a frame that was never synced).
                report.tornTailBytes += max(0, bytes.count - scan.end)
                let handle = try disk.open(name)
                if bytes.count > scan.end { try disk.truncate(handle, size: scan.end) }
                for repair in scan.repairs { try disk.write(handle, offset: repair.offset, bytes: repair.bytes) }
                try disk.sync(handle)
                disk.close(handle)
            }
            if !isLast && scan.damageOffset == nil && scan.frames.isEmpty && !damaged {
                // An empty segment before others cannot come from a crash.
                damaged = true
                report.corruptFrames += 1
            }
            segments.append(Segment(number: number, firstSequence: firstSequence, size: scan.end, highestIndex: highest))
        }
        nextSequence = expectedSequence ?? 1

        if !damaged && report.frames == 0 && !report.snapshotDamaged && (snapshot?.metadata.index ?? .zero) == .zero {
            // The first start crashed before its first frame was synced: nothing was
            // ever promised, so start afresh.
            for (number, firstSequence) in segmentNumbers {
                try disk.remove(RaftLogStore.segmentName(number, firstSequence: firstSequence))
            }
            segments.removeAll()
            report = RecoveryReport()
            return (try bootstrapFresh(bootstrap, number: (segmentNumbers.last?.number ?? 0) + 1), report)
        }
        var state = replay.finish()
        if report.snapshotDamaged || replay.snapshotMissing || segmentNumbers.isEmpty {
            damaged = true
        }
        if damaged {
            state = replay.repairedState(snapshotUsable: !report.snapshotDamaged && !replay.snapshotMissing,
                lastFrameReadable: lastFrameReadable)
            report.repairFloor = state.hardState.repairFloor
            try rewrite(state)
        } else {
            snapshotIndex = state.snapshot.metadata.index
            try openActiveSegment()
            if segments.count > 1, segments.last?.size == 0 {
                // The newest segment lost its only frame: restate the hard state in it,
                // so that dropping older segments can never lose the term and vote.
                try writeFrame(RaftFrame(sequence: nextSequence, hardState: state.hardState), forceSync: true)
            }
        }
        report.snapshotIndex = state.snapshot.metadata.index
        report.lastIndex = LogIndex(state.snapshot.metadata.index.rawValue + UInt64(state.entries.count))
        return (state, report)
    }

    /// Writes a new node's first state: one segment holding the bootstrap frame.
    private func bootstrapFresh(_ configuration: ClusterConfiguration, number: UInt64) throws(DiskError) -> RaftRecoveredState {
        let state = RaftRecoveredState.bootstrap(configuration)
        nextSequence = 1
        try startSegment(number: number, firstSequence: nextSequence)
        try writeFrame(RaftFrame(sequence: nextSequence, hardState: state.hardState, entries: state.entries), forceSync: true)
        return state
    }

    /// Frames found in one segment, and where the first unreadable one starts.
    struct Scan {
        var frames: [RaftFrame] = []
        /// Where the last readable frame ends (both copies): the next write goes here.
        var end = 0
        var damageOffset: Int?
        /// Readable frames past the damage: proof that the damaged frame had been synced.
        var framesAfterDamage: [RaftFrame] = []
        /// Copies to rewrite from their readable twin: (offset, bytes).
        var repairs: [(offset: Int, bytes: [UInt8])] = []
    }

    static func scan(_ bytes: [UInt8], sectorSize: Int, firstSequence: UInt64) -> Scan {
        var scan = Scan()
        var offset = 0
        var expected = firstSequence
        while offset + RaftFrame.headerSize <= bytes.count {
            guard let found = readFrame(bytes, at: offset, sectorSize: sectorSize, expected: expected) else {
                scan.damageOffset = offset
                break
            }
            scan.frames.append(found.frame)
            if let repair = found.repair { scan.repairs.append(repair) }
            expected = found.frame.sequence + 1
            offset = found.end
        }
        scan.end = offset
        if scan.damageOffset == nil && offset < bytes.count {
            // Less than a header at the end: the torn start of a frame.
            scan.damageOffset = offset
        }
        guard let damage = scan.damageOffset else { return scan }
        // Look past the damage, sector by sector, for frames written after it.
        var probe = (damage / sectorSize + 1) * sectorSize
        let floor = expected
        var seen: [UInt64] = []
        while probe + RaftFrame.headerSize <= bytes.count {
            if let (frame, end, _) = RaftFrame.copy(in: bytes, at: probe, sectorSize: sectorSize), frame.sequence > floor {
                if !seen.contains(frame.sequence) {
                    seen.append(frame.sequence)
                    scan.framesAfterDamage.append(frame)
                }
                probe = end
            } else {
                probe += sectorSize
            }
        }
        return scan
    }

    struct FoundFrame {
        var frame: RaftFrame
        /// Past both copies.
        var end: Int
        /// A damaged or missing copy to rewrite from its twin.
        var repair: (offset: Int, bytes: [UInt8])?
    }

    /// The frame at `offset` from either copy. Both copies have the same size, so the
    /// second starts where the first ends.
    private static func readFrame(_ bytes: [UInt8], at offset: Int, sectorSize: Int, expected: UInt64) -> FoundFrame? {
        func acceptable(_ frame: RaftFrame) -> Bool { frame.sequence == expected }
        func readable(_ at: Int, copy wanted: UInt8) -> (RaftFrame, Int)? {
            guard let (frame, end, copy) = RaftFrame.copy(in: bytes, at: at, sectorSize: sectorSize), copy == wanted,
                  acceptable(frame)
            else { return nil }
            return (frame, end)
        }
        // A misdirected write can land the second copy on the first one's place.
        if let (first, firstEnd) = readable(offset, copy: 1) ?? readable(offset, copy: 2) {
            let size = firstEnd - offset
            let firstIntact = RaftFrame.header(in: bytes, at: offset)?.copy == 1
            let secondIntact = readable(firstEnd, copy: 2).map { $0.1 - firstEnd == size } ?? false
            switch (firstIntact, secondIntact) {
            case (true, true):
                return FoundFrame(frame: first, end: firstEnd + size)
            case (false, true):
                return FoundFrame(frame: first, end: firstEnd + size,
                    repair: (offset, first.encodedCopy(1, payload: first.payload, sectorSize: sectorSize)))
            case (_, false):
                return FoundFrame(frame: first, end: firstEnd + size,
                    repair: (firstEnd, first.encodedCopy(2, payload: first.payload, sectorSize: sectorSize)))
            }
        }
        // The first copy is unreadable: find the second, which starts right where a
        // first copy of its own size would end.
        var probe = offset + sectorSize
        let limit = min(bytes.count, offset + 2 * (RaftFrame.headerSize + RaftFrame.payloadMax) + 2 * sectorSize)
        while probe + RaftFrame.headerSize <= limit {
            if let header = RaftFrame.header(in: bytes, at: probe), header.copy == 2,
               probe - offset == RaftFrame.paddedSize(RaftFrame.headerSize + header.payloadLength, sectorSize: sectorSize),
               let (second, secondEnd) = readable(probe, copy: 2) {
                return FoundFrame(frame: second, end: secondEnd,
                    repair: (offset, second.encodedCopy(1, payload: second.payload, sectorSize: sectorSize)))
            }
            probe += sectorSize
        }
        return nil
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

        mutating func apply(_ frame: RaftFrame) {
            hardState = frame.hardState
            if let marker = frame.snapshotBase {
                if marker.index > base.index {
                    if let position = position(of: marker.index), entries[position].term == marker.term {
                        entries.removeSubrange(0...position)
                    } else {
                        entries.removeAll()
                    }
                    base = marker
                }
            }
            for entry in frame.entries where entry.index > base.index {
                if entry.index <= lastIndex {
                    entries.removeSubrange(Int(entry.index.rawValue - base.index.rawValue - 1)...)
                }
                if entry.index == lastIndex.next { entries.append(entry) }
            }
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
            return RaftRecoveredState(hardState: state, snapshot: snapshot, entries: entries)
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
            return RaftRecoveredState(hardState: state, snapshot: snapshot, entries: kept)
        }
    }

    /// Replaces everything on disk by one fresh segment holding `state`.
    private func rewrite(_ state: RaftRecoveredState) throws(DiskError) {
        let old = try disk.list().filter { $0.hasPrefix(RaftLogStore.segmentPrefix) }
        let number = (segments.last?.number ?? 0) + 1
        segments.removeAll()
        if state.snapshot.metadata.index == .zero, disk.exists(RaftLogStore.snapshotName) {
            // Damaged: the leader will send a whole snapshot.
            try disk.remove(RaftLogStore.snapshotName)
        }
        try startSegment(number: number, firstSequence: nextSequence)
        snapshotIndex = state.snapshot.metadata.index
        try writeFrame(RaftFrame(sequence: nextSequence, hardState: state.hardState,
            snapshotBase: (state.snapshot.metadata.index, state.snapshot.metadata.term), entries: state.entries),
            forceSync: true)
        for name in old where name.hasPrefix(RaftLogStore.segmentPrefix) {
            try disk.remove(name)
        }
        try disk.syncDirectory()
    }

    // MARK: writing

    private func startSegment(number: UInt64, firstSequence: UInt64) throws(DiskError) {
        if let activeFile { disk.close(activeFile) }
        let segment = Segment(number: number, firstSequence: firstSequence, size: 0, highestIndex: .zero)
        activeFile = try disk.create(segment.name)
        // The segment must exist after a crash before anything in it is acknowledged.
        try disk.syncDirectory()
        segments.append(segment)
    }

    private func openActiveSegment() throws(DiskError) {
        guard let last = segments.last else {
            try startSegment(number: 1, firstSequence: nextSequence)
            return
        }
        activeFile = try disk.open(last.name)
    }

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
            while let entry = remaining.first, batch.isEmpty || bytes + entry.encodedSize <= RaftFrame.payloadMax / 2 {
                batch.append(entry)
                bytes += entry.encodedSize
                remaining = remaining.dropFirst()
            }
            try writeFrame(RaftFrame(sequence: nextSequence, hardState: hardState, snapshotBase: base, entries: batch))
            base = nil
        } while !remaining.isEmpty
        if snapshot != nil { try dropSegmentsCovered() }
    }

    private func writeFrame(_ frame: RaftFrame, forceSync: Bool = false) throws(DiskError) {
        if let last = segments.last, last.size >= options.segmentBytesMax {
            try startSegment(number: last.number + 1, firstSequence: nextSequence)
        }
        guard let file = activeFile, var segment = segments.last else { preconditionFailure("no active segment") }
        let (first, second) = frame.encodedCopies(sectorSize: disk.sectorSize)
        try disk.write(file, offset: segment.size, bytes: first)
        try disk.write(file, offset: segment.size + first.count, bytes: second)
        if !options.skipSync || forceSync { try disk.sync(file) }
        segment.size += first.count + second.count
        if let last = frame.entries.last { segment.highestIndex = max(segment.highestIndex, last.index) }
        if let base = frame.snapshotBase { segment.highestIndex = max(segment.highestIndex, base.index) }
        segments[segments.count - 1] = segment
        nextSequence = frame.sequence + 1
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
        try dropSegmentsCovered()
    }

    /// Segments whose every entry the snapshot covers, except the active one.
    private func dropSegmentsCovered() throws(DiskError) {
        var removed = false
        while segments.count > 1, segments[0].highestIndex <= snapshotIndex {
            try disk.remove(segments[0].name)
            segments.removeFirst()
            removed = true
        }
        if removed { try disk.syncDirectory() }
    }

    /// Bytes in segments, for figures.
    public var logBytes: Int { segments.reduce(0) { $0 + $1.size } }
}
