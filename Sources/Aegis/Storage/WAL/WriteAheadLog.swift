/// The write-ahead log: records appended in order, made durable in groups, replayed at
/// recovery. It sits on a `FrameLog` (segment files `wal-…`, each frame twice).
///
/// A frame holds one group of records — everything added since the last frame was
/// written, so many writers share one write and one sync (group commit):
///
///     synced-through u64   the newest frame known durable when this one was written
///     record count u32
///     records: length u32 (of the body), type u8, CRC32C u32 (over type and body), body
///
/// Recovery tells three outcomes apart: a clean log; a torn tail (frames that were never
/// synced, cut off and reported as such); and corruption, when a frame that was synced
/// can no longer be read — proven either because a later segment exists (segments start
/// only after a sync) or because a later readable frame names it as synced. Corruption
/// is reported, never skipped: replaying past a hole would resurrect a state that never
/// existed.
public final class WriteAheadLog {
    public struct Record: Sendable, Equatable {
        public var type: UInt8
        public var body: [UInt8]

        public init(type: UInt8, body: [UInt8]) {
            self.type = type
            self.body = body
        }
    }

    public struct Options: Sendable, Equatable {
        public var segmentBytesMax = 4 << 20
        /// A group is written as soon as its records pass this many bytes, synced or not.
        public var groupBytesMax = 4 << 20
        /// Planted bug (storage-skip-wal-sync): `sync` returns without syncing.
        public var skipSync = false

        public init() {}
    }

    /// What recovery found.
    public struct Recovery: Sendable {
        /// The records of frames after the cutoff, in order, with their frame sequence.
        public var records: [(frame: UInt64, record: Record)] = []
        public var frames = 0
        public var segments = 0
        /// Frames never synced, cut from the end (their records were never acknowledged).
        public var tornFramesDropped = 0
        public var tornTailBytes = 0
        public var copiesRepaired = 0
    }

    static let recordHeaderBytes = 9
    /// The largest record body: a frame must hold it.
    public static let recordBytesMax = FrameLog.payloadMax - 64

    public let disk: any Disk
    let frames: FrameLog
    let options: Options
    /// The group being gathered, after room for its frame header (filled in when it is
    /// written, so the group goes to the frame log without another copy).
    private var pending = WriteAheadLog.freshGroup()
    private var pendingCount: UInt32 = 0
    /// The newest frame synced.
    public private(set) var syncedThrough: UInt64 = 0

    public init(disk: any Disk, prefix: String = "wal", options: Options = Options()) {
        self.disk = disk
        self.options = options
        var frameOptions = FrameLog.Options()
        frameOptions.segmentBytesMax = options.segmentBytesMax
        frames = FrameLog(disk: disk, prefix: prefix, options: frameOptions)
    }

    /// The sequence of the newest frame written (0 when none).
    public var lastFrame: UInt64 { frames.lastSequence }
    public var hasPending: Bool { pendingCount > 0 }
    public var pendingBytes: Int { pending.count - WriteAheadLog.groupHeaderBytes }

    /// A frame's header: the sequence synced through (u64) and the record count (u32).
    static let groupHeaderBytes = 12

    private static func freshGroup() -> ByteWriter {
        var group = ByteWriter(capacity: 4096)
        group.write(UInt64(0))
        group.write(UInt32(0))
        return group
    }
    public var byteCount: Int { frames.byteCount }
    /// Bytes written to the log over this object's life.
    public var bytesWritten: Int { frames.bytesWritten }
    public var segmentCount: Int { frames.segmentCount }

    // MARK: recovery

    /// Reads the log, returning the records of frames after `cutoff` (frames up to it
    /// are covered elsewhere, e.g. flushed to tables). Repairs what can be repaired,
    /// cuts a torn tail, and throws `.corruption` for damage to synced frames after the
    /// cutoff. Afterwards the log is open for appending.
    public func recover(after cutoff: UInt64) throws(StorageError) -> Recovery {
        var report = Recovery()
        let found: FrameLog.Recovery
        do {
            found = try frames.recover(tagOf: { $0.sequence })
        } catch {
            throw .disk(error)
        }
        report.segments = found.segments
        report.copiesRepaired = found.copiesRepaired
        report.tornTailBytes = found.tornTailBytes
        var kept = found.frames
        if found.damaged {
            let damaged = found.damagedSequence ?? 1
            var proven = found.damageBeforeLastSegment
            for frame in found.framesAfterDamage where !proven {
                if let synced = try? WriteAheadLog.syncedThrough(of: frame.payload), synced >= damaged { proven = true }
            }
            if proven {
                // Synced frames are lost. Harmless only if they are all at or below the
                // cutoff and every frame after the cutoff was read.
                let later = found.framesAfterDamage
                let contiguous = zip(later, later.dropFirst()).allSatisfy { $0.sequence + 1 == $1.sequence }
                // With nothing readable after the damage, the newest frame is the one
                // before the last segment's first: it too must be covered.
                let covers = later.first.map { $0.sequence <= cutoff + 1 } ?? (frames.lastSequence <= cutoff)
                guard damaged <= cutoff, contiguous, covers else {
                    let name: String
                    do {
                        name = try frames.segmentFiles().first ?? "wal"
                    } catch {
                        throw .disk(error)
                    }
                    throw .corruption(file: name,
                                      detail: "write-ahead log frame \(damaged) was synced but can no longer be read")
                }
                kept = later
            } else {
                report.tornFramesDropped = found.framesAfterDamage.count + 1
            }
            // Start the log afresh with the frames worth keeping.
            let keep = kept.filter { $0.sequence > cutoff }
            do {
                try frames.rewrite(keep.map { ($0.payload, $0.sequence) })
            } catch {
                throw .disk(error)
            }
            kept = keep
        }
        for frame in kept where frame.sequence > cutoff {
            let records: [Record]
            do {
                records = try WriteAheadLog.decodeFrame(frame.payload)
            } catch {
                // The frame's checksum held, so its inside was written wrong: a bug, or
                // a misdirected write of matching checksum. Either way, not data.
                throw .corruption(file: "wal", detail: "write-ahead log frame \(frame.sequence) is malformed: \(error)")
            }
            report.frames += 1
            for record in records { report.records.append((frame.sequence, record)) }
        }
        // What a process crash left in the operating system's cache is durable from
        // here on.
        do {
            try frames.syncActive()
        } catch {
            throw .disk(error)
        }
        syncedThrough = frames.lastSequence
        return report
    }

    /// Removes every segment and starts an empty log (a new store).
    public func startFresh() throws(DiskError) {
        try frames.startFresh()
        syncedThrough = 0
    }

    // MARK: writing

    /// Adds a record to the current group; it reaches the disk at the next
    /// `write`/`sync` (or now, when the group has grown past `groupBytesMax`).
    public func add(_ record: Record) throws(DiskError) {
        try add(type: record.type, bodyBytes: record.body.count) { $0.write(raw: record.body) }
    }

    /// Adds a record whose body `encode` writes straight into the group: exactly
    /// `bodyBytes` bytes (a precondition), with no copy of its own.
    public func add(type: UInt8, bodyBytes: Int, encode: (inout ByteWriter) -> Void) throws(DiskError) {
        precondition(bodyBytes <= WriteAheadLog.recordBytesMax, "a WAL record of \(bodyBytes) bytes")
        if pendingBytes + bodyBytes + WriteAheadLog.recordHeaderBytes > options.groupBytesMax, hasPending {
            try write(sync: false)
        }
        pending.write(UInt32(bodyBytes))
        pending.write(type)
        let checksumAt = pending.count
        pending.write(UInt32(0))
        let bodyStart = pending.count
        encode(&pending)
        precondition(pending.count - bodyStart == bodyBytes, "a WAL record body of \(pending.count - bodyStart) bytes, announced as \(bodyBytes)")
        pending.overwrite(CRC32C.checksum(pending.bytes[bodyStart...], continuing: CRC32C.checksum([type])), at: checksumAt)
        pendingCount += 1
    }

    /// Writes the pending group as one frame, synced if asked. Returns the newest frame.
    @discardableResult
    public func write(sync: Bool) throws(DiskError) -> UInt64 {
        if hasPending {
            pending.overwrite(syncedThrough, at: 0)
            pending.overwrite(pendingCount, at: 8)
            let frame = pending.bytes
            pending = WriteAheadLog.freshGroup()
            pendingCount = 0
            try frames.append(frame, tag: frames.lastSequence + 1, sync: sync && !options.skipSync)
        } else if sync && syncedThrough < frames.lastSequence && !options.skipSync {
            try frames.syncActive()
        }
        if sync && !options.skipSync { syncedThrough = frames.lastSequence }
        return frames.lastSequence
    }

    /// Group commit: writes whatever is pending and syncs once; every record added so
    /// far is durable when this returns.
    @discardableResult
    public func sync() throws(DiskError) -> UInt64 {
        try write(sync: true)
    }

    /// Closes the current segment after syncing it; later frames go to a new one.
    public func rotate() throws(DiskError) {
        try sync()
        try frames.rotate()
    }

    /// Removes whole segments holding only frames up to `frame`.
    public func dropSegments(through frame: UInt64) throws(DiskError) {
        try frames.dropSegments(taggedAtMost: frame)
    }

    // MARK: the frame format

    static func syncedThrough(of payload: [UInt8]) throws(DecodeError) -> UInt64 {
        var reader = ByteReader(payload)
        return try reader.readUInt64()
    }

    static func decodeFrame(_ payload: [UInt8]) throws(DecodeError) -> [Record] {
        var reader = ByteReader(payload)
        _ = try reader.readUInt64()
        let count = try reader.readUInt32()
        var records: [Record] = []
        for _ in 0..<count {
            let length = Int(try reader.readUInt32())
            guard length <= reader.remaining else { throw .truncated(needed: length, available: reader.remaining) }
            let type = try reader.readUInt8()
            let checksum = try reader.readUInt32()
            let body = try reader.readRaw(count: length)
            guard CRC32C.checksum(body, continuing: CRC32C.checksum([type])) == checksum else { throw .invalid("record checksum mismatch") }
            records.append(Record(type: type, body: body))
        }
        guard reader.isAtEnd else { throw .invalid("bytes after the last record") }
        return records
    }
}

