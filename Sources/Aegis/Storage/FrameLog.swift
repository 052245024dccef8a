/// An append-only log of checksummed payloads ("frames") in segment files on the Disk
/// door, built so that recovery can tell a torn tail from corruption.
///
/// Files: `PREFIX-NNNNNNNN-SSSSSSSSSSSSSSSS`, segment number NNNNNNNN whose first frame
/// has sequence SSSS… (hex), so every frame's sequence is known before it is read.
///
/// Each frame is written twice, each copy sector-aligned, in two separate writes, then
/// synced once; the next frame is written only after that sync. A copy is:
///
///     header (32 bytes): magic "AEGF", copy (1 or 2), 3 reserved, sequence u64,
///                        payload length u32, payload CRC32C u32, reserved u32,
///                        header CRC32C u32 over the first 28 bytes
///     payload, zero padding to the next sector boundary
///
/// So at recovery: a frame with a readable copy is whole (a damaged or missing copy is
/// rewritten from its twin); a frame with no readable copy at the very end of the last
/// segment was never synced (a torn tail, cut off); a frame with no readable copy and
/// readable frames after it was damaged after it was synced: corruption. With a single
/// copy the last two would look the same, and treating a damaged acknowledged frame as
/// torn would lose it silently.
public final class FrameLog {
    public struct Options: Sendable, Equatable {
        /// Start a new segment past this many bytes.
        public var segmentBytesMax = 1 << 20
        /// Planted bug: write without syncing.
        public var skipSync = false

        public init() {}
    }

    public struct Frame: Sendable, Equatable {
        public var sequence: UInt64
        public var payload: [UInt8]
        /// The number of the segment it was read from (set by recovery).
        public var segment: UInt64 = 0
    }

    /// What recovery found.
    public struct Recovery: Sendable {
        /// The readable frames in order, up to the first damage.
        public var frames: [Frame] = []
        /// Readable frames written after the damage: proof that it came after a sync.
        public var framesAfterDamage: [Frame] = []
        /// A synced frame is unreadable, or a segment is missing or empty out of place.
        public var damaged = false
        /// Whether the newest synced frame could be read (false when the damage hit it).
        public var newestFrameReadable = true
        public var segments = 0
        /// Bytes of a never-synced frame cut from the end.
        public var tornTailBytes = 0
        /// Frame copies found damaged or missing and rewritten from their twin.
        public var copiesRepaired = 0
        /// The sequence of the first frame lost to the damage (when `damaged`).
        public var damagedSequence: UInt64?
        /// The damage lies before the last segment: a later segment was started after
        /// it, and segments start only once everything before them is synced.
        public var damageBeforeLastSegment = false
    }

    let disk: any Disk
    let prefix: String
    let options: Options
    private var segments: [Segment] = []
    private var nextSequence: UInt64 = 1
    private var activeFile: DiskFile?
    /// Frames appended to the active segment since its last sync.
    private var activeUnsynced = false
    /// Bytes appended over this object's life (both copies, padding included).
    public private(set) var bytesWritten = 0

    private struct Segment {
        var number: UInt64
        var firstSequence: UInt64
        var size: Int
        /// The largest caller tag of a frame in it (for dropping covered segments).
        var tag: UInt64
        var prefix: String

        var name: String { FrameLog.segmentName(prefix, number, firstSequence: firstSequence) }
    }

    public init(disk: any Disk, prefix: String, options: Options = Options()) {
        self.disk = disk
        self.prefix = prefix
        self.options = options
    }

    static func segmentName(_ prefix: String, _ number: UInt64, firstSequence: UInt64) -> String {
        let digits = String(number)
        let hex = String(firstSequence, radix: 16)
        return prefix + "-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
            + "-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// (number, first sequence) of one of this log's segment file names.
    func parseSegmentName(_ name: String) -> (number: UInt64, firstSequence: UInt64)? {
        guard name.hasPrefix(prefix + "-") else { return nil }
        let parts = name.dropFirst(prefix.count + 1).split(separator: "-")
        guard parts.count == 2, parts[0].count == 8, let number = UInt64(parts[0]),
              let first = UInt64(parts[1], radix: 16) else { return nil }
        return (number, first)
    }

    /// The segment files on disk, oldest first.
    public func segmentFiles() throws(DiskError) -> [String] {
        try disk.list().compactMap { name in parseSegmentName(name).map { (name, $0.number) } }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }

    public var segmentCount: Int { segments.count }
    /// The segments' numbers, oldest first; the last is the one appended to.
    public var segmentNumbers: [UInt64] { segments.map(\.number) }
    /// Bytes in the segment appended to (0 right after it started).
    public var activeSegmentBytes: Int { segments.last?.size ?? 0 }
    public var activeSegmentIsEmpty: Bool { segments.last?.size == 0 }
    public var byteCount: Int { segments.reduce(0) { $0 + $1.size } }

    // MARK: recovery

    /// Reads every segment. Unless damage was found, also rewrites damaged copies from
    /// their twins, cuts a torn tail, and opens the newest segment for appending; with
    /// damage it leaves the disk alone (the caller decides, usually `rewrite`).
    /// `tagOf` gives each frame the tag `dropSegments(taggedAtMost:)` compares.
    public func recover(tagOf: (Frame) -> UInt64) throws(DiskError) -> Recovery {
        var recovery = Recovery()
        segments.removeAll()
        let found = try disk.list().compactMap(parseSegmentName).sorted { $0.number < $1.number }
        var expectedSequence: UInt64?
        for (position, (number, firstSequence)) in found.enumerated() {
            let name = FrameLog.segmentName(prefix, number, firstSequence: firstSequence)
            if let expected = expectedSequence, expected != firstSequence, !recovery.damaged {
                // A segment whose frames do not follow the previous one's: frames lost.
                recovery.damaged = true
                recovery.damagedSequence = expected
                recovery.damageBeforeLastSegment = true
            }
            expectedSequence = firstSequence
            let file = try disk.open(name)
            let size = try disk.size(file)
            let bytes = try disk.read(file, offset: 0, count: size)
            disk.close(file)
            recovery.segments += 1
            let isLast = position == found.count - 1
            let scan = FrameLog.scan(bytes, sectorSize: disk.sectorSize, firstSequence: firstSequence)
            recovery.copiesRepaired += scan.repairs.count
            var tag: UInt64 = 0
            for var frame in scan.frames {
                frame.segment = number
                if recovery.damaged {
                    recovery.framesAfterDamage.append(frame)
                } else {
                    recovery.frames.append(frame)
                    tag = max(tag, tagOf(frame))
                }
            }
            recovery.framesAfterDamage += scan.framesAfterDamage
            for frame in scan.frames + scan.framesAfterDamage { expectedSequence = frame.sequence + 1 }
            let tornTail = scan.damageOffset != nil && isLast && scan.framesAfterDamage.isEmpty && !recovery.damaged
            if scan.damageOffset != nil && !tornTail && !recovery.damaged {
                recovery.damaged = true
                recovery.damagedSequence = (scan.frames.last?.sequence).map { $0 + 1 } ?? firstSequence
                recovery.damageBeforeLastSegment = !isLast
            }
            // Damage followed by no readable frame, here or in a later segment, hit the
            // newest synced frame. (Damage at the end of the last segment is a torn,
            // never-synced frame: the one before it is the newest synced one.)
            if scan.damageOffset != nil && !(isLast && scan.framesAfterDamage.isEmpty) {
                recovery.newestFrameReadable = !scan.framesAfterDamage.isEmpty
            } else if !scan.frames.isEmpty {
                recovery.newestFrameReadable = true
            }
            if !recovery.damaged && (!scan.repairs.isEmpty || tornTail || bytes.count != scan.end) {
                // Restore both copies of every frame, and cut what follows the last one
                // (a frame that was never synced).
                recovery.tornTailBytes += max(0, bytes.count - scan.end)
                let handle = try disk.open(name)
                if bytes.count > scan.end { try disk.truncate(handle, size: scan.end) }
                for repair in scan.repairs { try disk.write(handle, offset: repair.offset, bytes: repair.bytes) }
                try disk.sync(handle)
                disk.close(handle)
            }
            if !isLast && scan.damageOffset == nil && scan.frames.isEmpty && !recovery.damaged {
                // An empty segment before others cannot come from a crash.
                recovery.damaged = true
                recovery.damagedSequence = firstSequence
                recovery.damageBeforeLastSegment = true
            }
            segments.append(Segment(number: number, firstSequence: firstSequence, size: scan.end, tag: tag, prefix: prefix))
        }
        nextSequence = expectedSequence ?? 1
        if !recovery.damaged, let last = segments.last {
            activeFile = try disk.open(last.name)
        }
        return recovery
    }

    // MARK: writing

    /// Removes every segment and starts an empty one, for a log that begins afresh.
    public func startFresh() throws(DiskError) {
        let old = try segmentFiles()
        for name in old { try disk.remove(name) }
        if let activeFile { disk.close(activeFile) }
        activeFile = nil
        let number = (segments.last?.number ?? 0) + 1
        segments.removeAll()
        nextSequence = 1
        try startSegment(number: max(number, 1), firstSequence: nextSequence)
    }

    /// Appends one frame (both copies, then a sync) tagged with `tag`.
    public func append(_ payload: [UInt8], tag: UInt64, forceSync: Bool = false) throws(DiskError) {
        try append(payload, tag: tag, sync: !options.skipSync || forceSync)
    }

    /// The sequence the last appended frame got (0 before the first).
    public var lastSequence: UInt64 { nextSequence - 1 }

    /// Syncs the active segment: every frame appended so far is durable.
    public func syncActive() throws(DiskError) {
        if let activeFile { try disk.sync(activeFile) }
        activeUnsynced = false
    }

    /// Closes the active segment; the next append starts a new one (so that everything
    /// before can be dropped once covered).
    public func rotate() throws(DiskError) {
        guard let last = segments.last, last.size > 0 else { return }
        try startSegment(number: last.number + 1, firstSequence: nextSequence)
    }

    /// Appends one frame (both copies) tagged with `tag`, synced only if `sync`. A
    /// frame left unsynced is durable only after a later `syncActive` or synced append.
    public func append(_ payload: [UInt8], tag: UInt64, sync: Bool) throws(DiskError) {
        if segments.isEmpty {
            try startSegment(number: 1, firstSequence: nextSequence)
        } else if let last = segments.last, last.size >= options.segmentBytesMax {
            try startSegment(number: last.number + 1, firstSequence: nextSequence)
        }
        guard let file = activeFile, var segment = segments.last else { preconditionFailure("no active segment") }
        // One buffer written twice: as the first copy, then patched into the second.
        var copy = FrameLog.encodedCopy(1, sequence: nextSequence, payload: payload, sectorSize: disk.sectorSize)
        try disk.write(file, offset: segment.size, bytes: copy)
        FrameLog.makeSecondCopy(&copy)
        try disk.write(file, offset: segment.size + copy.count, bytes: copy)
        activeUnsynced = true
        bytesWritten += 2 * copy.count
        if sync {
            try disk.sync(file)
            activeUnsynced = false
        }
        segment.size += 2 * copy.count
        segment.tag = max(segment.tag, tag)
        segments[segments.count - 1] = segment
        nextSequence += 1
    }

    /// Replaces every segment by one fresh segment holding `frames`, synced, then
    /// removes the old ones and syncs the directory.
    public func rewrite(_ frames: [(payload: [UInt8], tag: UInt64)]) throws(DiskError) {
        let old = try segmentFiles()
        let number = (segments.last?.number ?? 0) + 1
        segments.removeAll()
        try startSegment(number: number, firstSequence: nextSequence)
        for frame in frames { try append(frame.payload, tag: frame.tag, forceSync: true) }
        for name in old { try disk.remove(name) }
        try disk.syncDirectory()
    }

    /// Removes the oldest segments whose every frame is tagged at most `tag`, never the
    /// active one; syncs the directory when it removed any.
    public func dropSegments(taggedAtMost tag: UInt64) throws(DiskError) {
        var removed = false
        while segments.count > 1, segments[0].tag <= tag {
            try disk.remove(segments[0].name)
            segments.removeFirst()
            removed = true
        }
        if removed { try disk.syncDirectory() }
    }

    /// Removes the oldest segment, never the active one, and syncs the directory: for a
    /// caller that tracks on its own what each segment still holds.
    public func dropOldestSegment() throws(DiskError) {
        precondition(segments.count > 1, "the active segment is never dropped")
        try disk.remove(segments[0].name)
        segments.removeFirst()
        try disk.syncDirectory()
    }

    private func startSegment(number: UInt64, firstSequence: UInt64) throws(DiskError) {
        // A segment starts only once everything before it is synced, so recovery knows
        // damage before the last segment hit synced frames.
        if let activeFile {
            if activeUnsynced { try disk.sync(activeFile) }
            disk.close(activeFile)
        }
        activeUnsynced = false
        let segment = Segment(number: number, firstSequence: firstSequence, size: 0, tag: 0, prefix: prefix)
        activeFile = try disk.create(segment.name)
        // The segment must exist after a crash before anything in it is acknowledged.
        try disk.syncDirectory()
        segments.append(segment)
    }

    // MARK: the frame format

    static let magic: UInt32 = 0x4645_4741  // "AEGF" little-endian
    static let headerSize = 32
    /// The largest payload a frame may carry.
    public static let payloadMax = 8 << 20

    static func paddedSize(_ count: Int, sectorSize: Int) -> Int {
        (count + sectorSize - 1) / sectorSize * sectorSize
    }

    /// One copy, sector-padded.
    static func encodedCopy(_ copy: UInt8, sequence: UInt64, payload: [UInt8], sectorSize: Int) -> [UInt8] {
        precondition(payload.count <= payloadMax, "frame payload of \(payload.count) bytes is too large")
        var writer = ByteWriter(capacity: paddedSize(headerSize + payload.count, sectorSize: sectorSize))
        writer.write(magic)
        writer.write(copy)
        writer.write(UInt8(0))
        writer.write(UInt16(0))
        writer.write(sequence)
        writer.write(UInt32(payload.count))
        writer.write(CRC32C.checksum(payload))
        writer.write(UInt32(0))
        writer.write(CRC32C.checksum(writer.bytes))
        writer.write(raw: payload)
        let padded = paddedSize(writer.bytes.count, sectorSize: sectorSize)
        writer.write(raw: [UInt8](repeating: 0, count: padded - writer.bytes.count))
        return writer.bytes
    }

    /// Turns an encoded first copy into the second: the same but for its copy number
    /// and header checksum, so the payload is copied and checksummed once.
    static func makeSecondCopy(_ copy: inout [UInt8]) {
        copy[4] = 2
        let checksum = CRC32C.checksum(copy[0..<28])
        withUnsafeBytes(of: checksum.littleEndian) { raw in
            for index in 0..<4 { copy[28 + index] = raw[index] }
        }
    }

    struct Header {
        var copy: UInt8
        var sequence: UInt64
        var payloadLength: Int
        var payloadChecksum: UInt32
    }

    static func header(in bytes: [UInt8], at offset: Int) -> Header? {
        guard offset >= 0, offset + headerSize <= bytes.count else { return nil }
        var reader = ByteReader(bytes, offset: offset)
        guard (try? reader.readUInt32()) == magic,
              let copy = try? reader.readUInt8(), copy == 1 || copy == 2,
              (try? reader.readUInt8()) != nil, (try? reader.readUInt16()) != nil,
              let sequence = try? reader.readUInt64(),
              let length = try? reader.readUInt32(),
              let payloadChecksum = try? reader.readUInt32(),
              (try? reader.readUInt32()) != nil,
              let headerChecksum = try? reader.readUInt32()
        else { return nil }
        guard CRC32C.checksum(bytes[offset..<(offset + 28)]) == headerChecksum, Int(length) <= payloadMax else {
            return nil
        }
        return Header(copy: copy, sequence: sequence, payloadLength: Int(length), payloadChecksum: payloadChecksum)
    }

    /// The copy at `offset` if its header and payload check out: the frame, the offset
    /// just past the copy, and its copy number.
    static func copy(in bytes: [UInt8], at offset: Int, sectorSize: Int) -> (Frame, end: Int, copy: UInt8)? {
        guard let header = header(in: bytes, at: offset) else { return nil }
        let start = offset + headerSize
        guard start + header.payloadLength <= bytes.count else { return nil }
        let payload = Array(bytes[start..<(start + header.payloadLength)])
        guard CRC32C.checksum(payload) == header.payloadChecksum else { return nil }
        return (Frame(sequence: header.sequence, payload: payload),
                offset + paddedSize(headerSize + header.payloadLength, sectorSize: sectorSize), header.copy)
    }

    // MARK: scanning a segment

    struct Scan {
        var frames: [Frame] = []
        /// Where the last readable frame ends (both copies): the next write goes here.
        var end = 0
        var damageOffset: Int?
        var framesAfterDamage: [Frame] = []
        /// Copies to rewrite from their readable twin: (offset, bytes).
        var repairs: [(offset: Int, bytes: [UInt8])] = []
    }

    static func scan(_ bytes: [UInt8], sectorSize: Int, firstSequence: UInt64) -> Scan {
        var scan = Scan()
        var offset = 0
        var expected = firstSequence
        while offset + headerSize <= bytes.count {
            guard let found = readFrame(bytes, at: offset, sectorSize: sectorSize, expected: expected),
                  found.end <= bytes.count else {
                // No readable copy; or the first copy whole and the file ending before
                // the second could: the frame was never synced (both copies are written
                // before the sync), so it is torn, not damaged.
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
        var seen: [UInt64] = []
        while probe + headerSize <= bytes.count {
            if let (frame, end, _) = copy(in: bytes, at: probe, sectorSize: sectorSize), frame.sequence > expected {
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
        var frame: Frame
        var end: Int
        var repair: (offset: Int, bytes: [UInt8])?
    }

    /// The frame at `offset` from either copy. Both copies have the same size, so the
    /// second starts where the first ends.
    private static func readFrame(_ bytes: [UInt8], at offset: Int, sectorSize: Int, expected: UInt64) -> FoundFrame? {
        func readable(_ at: Int, copy wanted: UInt8) -> (Frame, Int)? {
            guard let (frame, end, copy) = copy(in: bytes, at: at, sectorSize: sectorSize), copy == wanted,
                  frame.sequence == expected
            else { return nil }
            return (frame, end)
        }
        // A misdirected write can land the second copy on the first one's place.
        if let (first, firstEnd) = readable(offset, copy: 1) ?? readable(offset, copy: 2) {
            let size = firstEnd - offset
            let firstIntact = header(in: bytes, at: offset)?.copy == 1
            let secondIntact = readable(firstEnd, copy: 2).map { $0.1 - firstEnd == size } ?? false
            switch (firstIntact, secondIntact) {
            case (true, true):
                return FoundFrame(frame: first, end: firstEnd + size)
            case (false, true):
                return FoundFrame(frame: first, end: firstEnd + size,
                    repair: (offset, encodedCopy(1, sequence: first.sequence, payload: first.payload, sectorSize: sectorSize)))
            case (_, false):
                return FoundFrame(frame: first, end: firstEnd + size,
                    repair: (firstEnd, encodedCopy(2, sequence: first.sequence, payload: first.payload, sectorSize: sectorSize)))
            }
        }
        // The first copy is unreadable: find the second, which starts right where a
        // first copy of its own size would end.
        var probe = offset + sectorSize
        let limit = min(bytes.count, offset + 2 * (headerSize + payloadMax) + 2 * sectorSize)
        while probe + headerSize <= limit {
            if let found = header(in: bytes, at: probe), found.copy == 2,
               probe - offset == paddedSize(headerSize + found.payloadLength, sectorSize: sectorSize),
               let (second, secondEnd) = readable(probe, copy: 2) {
                return FoundFrame(frame: second, end: secondEnd,
                    repair: (offset, encodedCopy(1, sequence: second.sequence, payload: second.payload, sectorSize: sectorSize)))
            }
            probe += sectorSize
        }
        return nil
    }
}
