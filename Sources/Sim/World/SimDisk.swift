import Aegis

/// The fault rates a disk applies, drawn per seed (see `FaultOptions`).
struct DiskFaultRates {
    var latencyMinNanoseconds: UInt64 = 0
    var latencyMaxNanoseconds: UInt64 = 0
    var unsyncedLost = 0.0
    var unsyncedTorn = 0.0
    var corruption = 0.0
    var misdirect = 0.0
    var readError = 0.0
    var writeError = 0.0
    var crashAtDiskCall = 0.0
}

/// A simulated disk with a sector model. It outlives the processes that use it: a
/// crash drops the volatile state (unsynced sectors, unsynced directory changes, open
/// handles) according to the crash model, and the next incarnation sees what remains.
///
/// - data: `write` changes `current`; `sync` copies dirty sectors to `durable`. On a
///   crash each dirty sector is kept, lost or torn (a prefix of the new bytes over the
///   old ones).
/// - metadata: create, rename and remove are journalled; `syncDirectory` makes them
///   durable. On a crash a prefix of the unsynced journal survives, in order.
/// - latent corruption flips a bit of a durable sector when it is read (and the flip
///   stays); a misdirected write lands on another sector of the file; read and write
///   errors fail the call; every call takes a latency drawn per call.
final class SimDisk: Disk {
    final class Inode {
        var durable = PagedBytes()
        var current = PagedBytes()
        var dirtySectors = SectorSet()
        var truncatedSinceSync = false
        /// A bit flip or a misdirected write hit this file: damage it may report.
        var damaged = false
    }

    /// A set of sector numbers as a bitmap: ordered iteration, no hashing.
    struct SectorSet {
        private var words: [UInt64] = []
        private(set) var count = 0

        mutating func insert(_ sector: Int) {
            let word = sector >> 6
            if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
            let bit = UInt64(1) << UInt64(sector & 63)
            if words[word] & bit == 0 {
                words[word] |= bit
                count += 1
            }
        }

        func contains(_ sector: Int) -> Bool {
            let word = sector >> 6
            return word < words.count && words[word] & (UInt64(1) << UInt64(sector & 63)) != 0
        }

        mutating func removeAll() {
            if count > 0 { words.removeAll(keepingCapacity: true) }
            count = 0
        }

        /// The members, ascending.
        func sorted() -> [Int] {
            var result: [Int] = []
            result.reserveCapacity(count)
            for (index, word) in words.enumerated() where word != 0 {
                var remaining = word
                while remaining != 0 {
                    result.append(index << 6 + remaining.trailingZeroBitCount)
                    remaining &= remaining - 1
                }
            }
            return result
        }
    }

    enum MetadataChange {
        case link(name: String, inode: UInt64)
        case rename(source: String, target: String)
        case unlink(name: String)
    }

    let sectorSize: Int
    /// Settable, so a test can fill the disk and then free space.
    var capacityBytes: Int
    var rates = DiskFaultRates()
    /// For tests: crash the process at the n-th disk call from now (1: the next one),
    /// so a test can try every crash point of an operation in turn.
    var crashAtCallCountdown: Int?
    /// While set, no fault fires and no time passes: a checker reading through the
    /// engine observes the disk without disturbing it.
    var faultsSuspended = false
    // The simulation owns every world object and outlives them all.
    unowned(unsafe) let host: SimHost
    private let random: SeededRandom
    private var inodes: [UInt64: Inode] = [:]
    private var nextInode: UInt64 = 1
    private var directory: [String: UInt64] = [:]
    private var durableDirectory: [String: UInt64] = [:]
    private var journal: [MetadataChange] = []
    private var handles: [UInt32: (inode: UInt64, name: String)] = [:]
    /// The same open handles by number, with their inode, for the lookup on every call.
    private var handleTable: [(inode: Inode, name: String)?] = []
    private var nextHandle: UInt32 = 1

    /// Fault counters, for tests and the end-of-run summary.
    private(set) var statistics = DiskStatistics()

    init(host: SimHost, sectorSize: Int, capacityBytes: Int, random: SeededRandom) {
        precondition(sectorSize > 0 && sectorSize & (sectorSize - 1) == 0, "sector size must be a power of two")
        self.host = host
        self.sectorSize = sectorSize
        self.capacityBytes = capacityBytes
        self.random = random
    }

    // MARK: the Disk door

    func create(_ name: String) throws(DiskError) -> DiskFile {
        try validateDiskFileName(name)
        try enter("create", name)
        guard directory[name] == nil else { throw .alreadyExists(name: name) }
        let number = nextInode
        nextInode += 1
        inodes[number] = Inode()
        directory[name] = number
        journal.append(.link(name: name, inode: number))
        trace("disk.create", name, digest: 0, detail: name)
        return openHandle(inode: number, name: name)
    }

    func open(_ name: String) throws(DiskError) -> DiskFile {
        try validateDiskFileName(name)
        try enter("open", name)
        guard let number = directory[name] else { throw .notFound(name: name) }
        trace("disk.open", name, digest: 0, detail: name)
        return openHandle(inode: number, name: name)
    }

    func close(_ file: DiskFile) {
        handles[file.rawValue] = nil
        if Int(file.rawValue) < handleTable.count { handleTable[Int(file.rawValue)] = nil }
    }

    func read(_ file: DiskFile, offset: Int, count: Int) throws(DiskError) -> [UInt8] {
        let (inode, name) = try resolve(file)
        try enter("read", name)
        precondition(offset >= 0 && count >= 0, "read needs a non-negative offset and count")
        if !faultsSuspended && random.happens(rates.readError) {
            statistics.readErrors += 1
            host.simulation.coverage.hit(.readFailed)
            trace("disk.read", name, digest: 0, detail: "\(name) off=\(offset) len=\(count) error=io")
            throw .ioError(name: name, operation: "read")
        }
        let end = min(offset + count, inode.current.count)
        guard offset < end else {
            trace("disk.read", name, digest: 0, detail: "\(name) off=\(offset) len=0")
            return []
        }
        corruptLatentSectors(inode, name: name, range: offset..<end)
        let bytes = inode.current.bytes(offset..<end)
        let digest = StableHash64.digest(bytes)
        trace("disk.read", name, digest: digest, detail: "\(name) off=\(offset) len=\(bytes.count)")
        return bytes
    }

    func write(_ file: DiskFile, offset: Int, bytes: [UInt8]) throws(DiskError) {
        let (inode, name) = try resolve(file)
        try enter("write", name, crashAfter: true) { () throws(DiskError) in
            try self.applyWrite(inode, name: name, offset: offset, bytes: bytes)
        }
    }

    func sync(_ file: DiskFile) throws(DiskError) {
        let (inode, name) = try resolve(file)
        try enter("sync", name)
        if !faultsSuspended && random.happens(rates.writeError) {
            statistics.writeErrors += 1
            host.simulation.coverage.hit(.writeFailed)
            trace("disk.sync", name, digest: 0, detail: "\(name) error=io")
            throw .ioError(name: name, operation: "sync")
        }
        let dirtyCount = inode.dirtySectors.count
        if dirtyCount > 0 {
            for sector in inode.dirtySectors.sorted() {
                persist(inode, sector: sector, byteCount: sectorSize)
            }
        }
        inode.durable.resize(to: min(inode.current.count, inode.durable.count))
        inode.dirtySectors.removeAll()
        inode.truncatedSinceSync = false
        statistics.syncs += 1
        trace("disk.sync", name, digest: UInt64(dirtyCount), detail: "\(name) sectors=\(dirtyCount)")
    }

    func truncate(_ file: DiskFile, size: Int) throws(DiskError) {
        let (inode, name) = try resolve(file)
        try enter("truncate", name)
        precondition(size >= 0, "truncate needs a non-negative size")
        if size > inode.current.count {
            guard totalBytes + size - inode.current.count <= capacityBytes else { throw .noSpace(name: name) }
            markDirty(inode, range: inode.current.count..<size)
            inode.current.resize(to: size)
        } else {
            inode.current.resize(to: size)
            inode.truncatedSinceSync = true
        }
        trace("disk.truncate", name, digest: UInt64(size), detail: "\(name) size=\(size)")
    }

    func size(_ file: DiskFile) throws(DiskError) -> Int {
        let (inode, _) = try resolve(file)
        return inode.current.count
    }

    func rename(_ source: String, to target: String) throws(DiskError) {
        try validateDiskFileName(source)
        try validateDiskFileName(target)
        try enter("rename", source)
        guard let number = directory[source] else { throw .notFound(name: source) }
        directory[source] = nil
        directory[target] = number
        journal.append(.rename(source: source, target: target))
        trace("disk.rename", source, digest: 0, detail: "\(source) -> \(target)")
    }

    func remove(_ name: String) throws(DiskError) {
        try validateDiskFileName(name)
        try enter("remove", name)
        guard directory[name] != nil else { throw .notFound(name: name) }
        directory[name] = nil
        journal.append(.unlink(name: name))
        trace("disk.remove", name, digest: 0, detail: name)
    }

    func list() throws(DiskError) -> [String] {
        try enter("list", ".")
        return directory.keys.sorted()
    }

    func exists(_ name: String) -> Bool {
        directory[name] != nil
    }

    func syncDirectory() throws(DiskError) {
        try enter("sync-directory", ".")
        let changes = journal.count
        durableDirectory = directory
        journal.removeAll()
        // Files removed for good and not open any more can go.
        if changes > 0 {
            let linked = Set(directory.values).union(handles.values.map(\.inode))
            for number in inodes.keys.sorted() where !linked.contains(number) {
                inodes[number] = nil
            }
        }
        trace("disk.syncdir", ".", digest: UInt64(changes), detail: "changes=\(changes)")
    }

    // MARK: crash

    /// For tests driving a disk without a process: applies the crash model and clears
    /// the host's pending crash, ready for the next "incarnation".
    func crashForTests() -> String {
        host.clearCrashRequest()
        return crash()
    }

    /// Applies the crash model to everything not yet synced and closes every handle.
    /// Returns a one-line summary for the trace.
    func crash() -> String {
        var kept = 0
        var lost = 0
        var torn = 0
        for number in inodes.keys.sorted() {
            guard let inode = inodes[number] else { continue }
            for sector in inode.dirtySectors.sorted() {
                let draw = random.unitInterval()
                if draw < rates.unsyncedLost {
                    lost += 1
                } else if draw < rates.unsyncedLost + rates.unsyncedTorn {
                    torn += 1
                    persist(inode, sector: sector, byteCount: random.uniform(in: 1...(sectorSize - 1)))
                } else {
                    kept += 1
                    persist(inode, sector: sector, byteCount: sectorSize)
                }
            }
            if inode.truncatedSinceSync, random.happens(0.5) {
                inode.durable.resize(to: min(inode.current.count, inode.durable.count))
            }
            inode.current = inode.durable
            inode.dirtySectors.removeAll()
            inode.truncatedSinceSync = false
        }
        var survivingChanges = 0
        for change in journal {
            guard !random.happens(rates.unsyncedLost) else { break }
            apply(change, to: &durableDirectory)
            survivingChanges += 1
        }
        let lostChanges = journal.count - survivingChanges
        journal.removeAll()
        directory = durableDirectory
        handles.removeAll()
        handleTable.removeAll()
        let linked = Set(directory.values)
        for number in inodes.keys.sorted() where !linked.contains(number) {
            inodes[number] = nil
        }
        statistics.sectorsKept += kept
        statistics.sectorsLost += lost
        statistics.sectorsTorn += torn
        host.simulation.coverage.hit(.sectorLostOnCrash, times: lost)
        host.simulation.coverage.hit(.sectorTornOnCrash, times: torn)
        host.simulation.coverage.hit(.directoryChangeLostOnCrash, times: lostChanges)
        return "sectors kept=\(kept) lost=\(lost) torn=\(torn) directory-changes kept=\(survivingChanges) lost=\(lostChanges)"
    }

    // MARK: inspection, for checkers and tests (never for engine code)

    /// Whether the disk damaged `name` (a bit flip or a misdirected write), so that a
    /// report of damage in it is true. A log name stands for every `wal-` segment.
    func injectedDamage(in name: String) -> Bool {
        if name.hasPrefix("wal") {
            return directory.keys.sorted().contains { $0.hasPrefix("wal-") && inodes[directory[$0]!]?.damaged == true }
        }
        guard let number = directory[name] else { return false }
        return inodes[number]?.damaged ?? false
    }

    /// The bytes of a file as the device holds them (what survives a crash with no loss).
    func durableContents(of name: String) -> [UInt8]? {
        durableDirectory[name].flatMap { inodes[$0]?.durable.allBytes }
    }

    /// The bytes of a file as a read sees them now.
    func currentContents(of name: String) -> [UInt8]? {
        directory[name].flatMap { inodes[$0]?.current.allBytes }
    }

    // MARK: internals

    private var totalBytes: Int {
        inodes.values.reduce(0) { $0 + $1.current.count }
    }

    private func openHandle(inode: UInt64, name: String) -> DiskFile {
        let handle = DiskFile(rawValue: nextHandle)
        nextHandle += 1
        handles[handle.rawValue] = (inode, name)
        let slot = Int(handle.rawValue)
        while handleTable.count <= slot { handleTable.append(nil) }
        handleTable[slot] = (inodes[inode]!, name)
        return handle
    }

    private func resolve(_ file: DiskFile) throws(DiskError) -> (Inode, String) {
        let slot = Int(file.rawValue)
        guard slot < handleTable.count, let (inode, name) = handleTable[slot] else {
            if host.crashRequested { throw .crashed }
            throw .badHandle(file)
        }
        return (inode, name)
    }

    /// Every call passes here: refuses calls from a crashing process, charges latency,
    /// and may crash the process at this call (before the call, or after `body`).
    private func enter(
        _ operation: String, _ name: String, crashAfter: Bool = false,
        _ body: () throws(DiskError) -> Void = {}
    ) throws(DiskError) {
        guard !host.crashRequested else { throw .crashed }
        if faultsSuspended {
            try body()
            return
        }
        let latency = rates.latencyMaxNanoseconds > rates.latencyMinNanoseconds
            ? random.uniform(in: rates.latencyMinNanoseconds...rates.latencyMaxNanoseconds)
            : rates.latencyMinNanoseconds
        host.chargeIO(nanoseconds: latency)
        var crashHere = random.happens(rates.crashAtDiskCall)
        if let countdown = crashAtCallCountdown {
            crashAtCallCountdown = countdown > 1 ? countdown - 1 : nil
            if countdown <= 1 { crashHere = true }
        }
        if crashHere {
            host.simulation.coverage.hit(.crashAtDiskCall)
        }
        if crashHere && !crashAfter {
            host.requestCrash(reason: "at disk \(operation) of \(name)")
            throw .crashed
        }
        try body()
        if crashHere {
            host.requestCrash(reason: "after disk \(operation) of \(name)")
            throw .crashed
        }
    }

    private func applyWrite(_ inode: Inode, name: String, offset: Int, bytes: [UInt8]) throws(DiskError) {
        precondition(offset >= 0, "write needs a non-negative offset")
        let digest = StableHash64.digest(bytes)
        if !faultsSuspended && random.happens(rates.writeError) {
            statistics.writeErrors += 1
            host.simulation.coverage.hit(.writeFailed)
            trace("disk.write", name, digest: digest, detail: "\(name) off=\(offset) len=\(bytes.count) error=io")
            throw .ioError(name: name, operation: "write")
        }
        let end = offset + bytes.count
        if end > inode.current.count {
            guard totalBytes + end - inode.current.count <= capacityBytes else {
                trace("disk.write", name, digest: digest, detail: "\(name) off=\(offset) len=\(bytes.count) error=nospace")
                throw .noSpace(name: name)
            }
        }
        var target = offset
        let sectorsBefore = inode.current.count / sectorSize
        if sectorsBefore > 0, bytes.count <= inode.current.count, !faultsSuspended, random.happens(rates.misdirect) {
            let sector = random.uniform(in: 0...(sectorsBefore - 1))
            target = min(sector * sectorSize + offset % sectorSize, inode.current.count - bytes.count)
            statistics.misdirectedWrites += 1
            inode.damaged = true
            host.simulation.coverage.hit(.writeMisdirected)
        }
        if end > inode.current.count {
            markDirty(inode, range: inode.current.count..<end)
            inode.current.resize(to: end)
        }
        inode.current.write(bytes, at: target)
        markDirty(inode, range: target..<(target + bytes.count))
        statistics.writes += 1
        let landing = target == offset ? "" : " misdirected-to=\(target)"
        trace("disk.write", name, digest: digest, detail: "\(name) off=\(offset) len=\(bytes.count)\(landing)")
    }

    private func markDirty(_ inode: Inode, range: Range<Int>) {
        guard !range.isEmpty else { return }
        for sector in (range.lowerBound / sectorSize)...((range.upperBound - 1) / sectorSize) {
            inode.dirtySectors.insert(sector)
        }
    }

    /// Copies the first `byteCount` bytes of `sector` from current to durable.
    private func persist(_ inode: Inode, sector: Int, byteCount: Int) {
        let start = sector * sectorSize
        let end = min(start + byteCount, inode.current.count)
        guard start < end else { return }
        inode.durable.copy(from: inode.current, range: start..<end)
    }

    private func corruptLatentSectors(_ inode: Inode, name: String, range: Range<Int>) {
        guard rates.corruption > 0, !faultsSuspended else { return }
        for sector in (range.lowerBound / sectorSize)...((range.upperBound - 1) / sectorSize) {
            guard !inode.dirtySectors.contains(sector), random.happens(rates.corruption) else { continue }
            let start = sector * sectorSize
            let end = min(start + sectorSize, inode.durable.count, inode.current.count)
            guard start < end else { continue }
            let position = random.uniform(in: start...(end - 1))
            let mask = UInt8(1) << UInt8(random.uniform(in: 0...7))
            inode.durable[position] ^= mask
            inode.current[position] ^= mask
            statistics.corruptedSectors += 1
            inode.damaged = true
            host.simulation.coverage.hit(.sectorCorrupted)
            trace("disk.corrupt", name, digest: UInt64(position), detail: "\(name) sector=\(sector) byte=\(position)")
        }
    }

    private func apply(_ change: MetadataChange, to table: inout [String: UInt64]) {
        switch change {
        case let .link(name, inode):
            table[name] = inode
        case let .rename(source, target):
            if let inode = table[source] {
                table[source] = nil
                table[target] = inode
            }
        case let .unlink(name):
            table[name] = nil
        }
    }

    private func trace(_ kind: String, _ name: String, digest: UInt64, detail: @autoclosure () -> String) {
        host.simulation.trace.record(
            time: host.localNowNanoseconds, node: host.node, kind: kind, digest: digest, detail: detail())
    }
}

struct DiskStatistics: Equatable {
    var writes = 0
    var syncs = 0
    var misdirectedWrites = 0
    var corruptedSectors = 0
    var readErrors = 0
    var writeErrors = 0
    var sectorsKept = 0
    var sectorsLost = 0
    var sectorsTorn = 0
}
