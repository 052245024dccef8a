import Aegis
import Metrics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Disk` door on a real directory: one file per name, read and written with
/// pread/pwrite, made durable with fdatasync (fsync when the size changed, so the new
/// length is durable too), and the directory itself fsynced for creates, renames and
/// removes. The same engine code that runs on `SimDisk` runs on this.
///
/// Not thread-safe: like every door, it is used from one thread at a time.
public final class FileDisk: Disk {
    public let path: String
    public let sectorSize: Int
    private var directoryDescriptor: Int32
    /// Open files: handle → (descriptor, name, size at the last sync). Lookup only.
    private var open: [UInt32: (descriptor: Int32, name: String, syncedSize: Int)] = [:]
    private var nextHandle: UInt32 = 1

    /// Syncs, their latency and bytes written, through swift-metrics (the server's
    /// `aegis_disk_*` metrics); nil when not asked for.
    private let metrics: DiskMetrics?

    struct DiskMetrics {
        let syncs = Counter(label: "aegis_disk_syncs_total")
        let syncDuration = Metrics.Timer(label: "aegis_disk_sync_duration_seconds")
        let bytesWritten = Counter(label: "aegis_disk_bytes_written_total")
        let errors = Counter(label: "aegis_disk_errors_total")
    }

    /// Opens (creating if needed) the directory at `path`. `instrumented`: report
    /// syncs, their latency and bytes written as metrics.
    public init(path: String, instrumented: Bool = false) throws(DiskError) {
        self.path = path
        metrics = instrumented ? DiskMetrics() : nil
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw .ioError(name: path, operation: "create directory (\(FileDisk.describe(errno)))")
        }
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .ioError(name: path, operation: "open directory (\(FileDisk.describe(errno)))")
        }
        directoryDescriptor = descriptor
        var info = statvfs()
        sectorSize = fstatvfs(descriptor, &info) == 0 && info.f_bsize >= 512 && info.f_bsize <= 65536
            ? Int(info.f_bsize) : 4096
    }

    deinit {
        for handle in open.keys.sorted() { _ = Glibc.close(open[handle]!.descriptor) }
        _ = Glibc.close(directoryDescriptor)
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private func fullPath(_ name: String) -> String {
        path + "/" + name
    }

    private func failure(_ name: String, _ operation: String, _ code: Int32) -> DiskError {
        switch code {
        case ENOENT: return .notFound(name: name)
        case EEXIST: return .alreadyExists(name: name)
        case ENOSPC, EDQUOT: return .noSpace(name: name)
        default: return .ioError(name: name, operation: "\(operation) (\(FileDisk.describe(code)))")
        }
    }

    private func register(_ descriptor: Int32, _ name: String) -> DiskFile {
        var info = stat()
        let size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        let handle = nextHandle
        nextHandle += 1
        open[handle] = (descriptor, name, size)
        return DiskFile(rawValue: handle)
    }

    private func resolve(_ file: DiskFile) throws(DiskError) -> (descriptor: Int32, name: String, syncedSize: Int) {
        guard let entry = open[file.rawValue] else { throw .badHandle(file) }
        return entry
    }

    public func create(_ name: String) throws(DiskError) -> DiskFile {
        try validateDiskFileName(name)
        let descriptor = Glibc.open(fullPath(name), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure(name, "create", errno) }
        return register(descriptor, name)
    }

    public func open(_ name: String) throws(DiskError) -> DiskFile {
        try validateDiskFileName(name)
        let descriptor = Glibc.open(fullPath(name), O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(name, "open", errno) }
        return register(descriptor, name)
    }

    public func close(_ file: DiskFile) {
        guard let entry = open.removeValue(forKey: file.rawValue) else { return }
        _ = Glibc.close(entry.descriptor)
    }

    public func read(_ file: DiskFile, offset: Int, count: Int) throws(DiskError) -> [UInt8] {
        let entry = try resolve(file)
        precondition(offset >= 0 && count >= 0, "read needs a non-negative offset and count")
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = result.withUnsafeMutableBytes { buffer in
                pread(entry.descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw failure(entry.name, "read", errno)
            }
            if got == 0 { break }
            done += got
        }
        if done < count { result.removeLast(count - done) }
        return result
    }

    public func write(_ file: DiskFile, offset: Int, bytes: [UInt8]) throws(DiskError) {
        let entry = try resolve(file)
        precondition(offset >= 0, "write needs a non-negative offset")
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { buffer in
                pwrite(entry.descriptor, buffer.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if wrote < 0 {
                if errno == EINTR { continue }
                throw failure(entry.name, "write", errno)
            }
            done += wrote
        }
        metrics?.bytesWritten.increment(by: bytes.count)
    }

    public func sync(_ file: DiskFile) throws(DiskError) {
        let entry = try resolve(file)
        var info = stat()
        let size = fstat(entry.descriptor, &info) == 0 ? Int(info.st_size) : -1
        // fdatasync carries a size change too, but fsync is the conservative choice
        // when the length moved.
        let started = metrics == nil ? nil : ContinuousClock.now
        let status = size == entry.syncedSize ? fdatasync(entry.descriptor) : fsync(entry.descriptor)
        if let metrics, let started {
            let elapsed = ContinuousClock.now - started
            metrics.syncs.increment()
            metrics.syncDuration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            if status != 0 { metrics.errors.increment() }
        }
        guard status == 0 else { throw failure(entry.name, "sync", errno) }
        open[file.rawValue]?.syncedSize = size
    }

    public func truncate(_ file: DiskFile, size: Int) throws(DiskError) {
        let entry = try resolve(file)
        guard ftruncate(entry.descriptor, off_t(size)) == 0 else { throw failure(entry.name, "truncate", errno) }
    }

    public func size(_ file: DiskFile) throws(DiskError) -> Int {
        let entry = try resolve(file)
        var info = stat()
        guard fstat(entry.descriptor, &info) == 0 else { throw failure(entry.name, "stat", errno) }
        return Int(info.st_size)
    }

    public func rename(_ source: String, to target: String) throws(DiskError) {
        try validateDiskFileName(source)
        try validateDiskFileName(target)
        guard Glibc.rename(fullPath(source), fullPath(target)) == 0 else { throw failure(source, "rename", errno) }
    }

    public func remove(_ name: String) throws(DiskError) {
        try validateDiskFileName(name)
        guard unlink(fullPath(name)) == 0 else { throw failure(name, "remove", errno) }
    }

    public func list() throws(DiskError) -> [String] {
        guard let stream = opendir(path) else { throw failure(path, "list", errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != ".", name != ".." else { continue }
            if entry.pointee.d_type == UInt8(DT_DIR) { continue }
            names.append(name)
        }
        return names.sorted()
    }

    public func exists(_ name: String) -> Bool {
        access(fullPath(name), F_OK) == 0
    }

    public func syncDirectory() throws(DiskError) {
        guard fsync(directoryDescriptor) == 0 else { throw failure(path, "sync directory", errno) }
    }
}
