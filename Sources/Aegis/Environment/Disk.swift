/// An open file. Handles are valid until the process crashes or the file is closed.
public struct DiskFile: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public var description: String { "f\(rawValue)" }
}

/// What a disk call can fail with. Every case names the file and says what to do.
public enum DiskError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(name: String)
    case alreadyExists(name: String)
    case badHandle(DiskFile)
    case invalidName(name: String)
    /// The device reported an error for this call; the data may or may not have changed.
    case ioError(name: String, operation: String)
    case noSpace(name: String)
    /// The process was crashed during this call; the caller must unwind and do nothing more.
    case crashed

    public var description: String {
        switch self {
        case let .notFound(name):
            return "file '\(name)' does not exist; create it first or check the data directory"
        case let .alreadyExists(name):
            return "file '\(name)' already exists; open it instead of creating it"
        case let .badHandle(handle):
            return "file handle \(handle) is not open; open the file again"
        case let .invalidName(name):
            return "'\(name)' is not a valid file name; use 1 to 255 characters without '/'"
        case let .ioError(name, operation):
            return "the disk reported an I/O error during \(operation) of '\(name)'; retry, or replace the device"
        case let .noSpace(name):
            return "the disk is full while writing '\(name)'; free space or add capacity"
        case .crashed:
            return "the process crashed during a disk call"
        }
    }
}

/// A flat directory of named files, read and written at byte offsets.
///
/// Durability follows POSIX: `write` reaches the device only at `sync(_:)`; `create`,
/// `rename` and `remove` reach it only at `syncDirectory()`. After a crash, anything not
/// yet synced may be kept, lost, or (for data) torn at sector granularity. Reads may
/// return corrupt bytes; every persistent record must carry a checksum.
public protocol Disk: AnyObject {
    /// The unit of atomicity: a crash tears writes at this granularity, no finer.
    var sectorSize: Int { get }

    func create(_ name: String) throws(DiskError) -> DiskFile
    func open(_ name: String) throws(DiskError) -> DiskFile
    func close(_ file: DiskFile)
    func read(_ file: DiskFile, offset: Int, count: Int) throws(DiskError) -> [UInt8]
    func write(_ file: DiskFile, offset: Int, bytes: [UInt8]) throws(DiskError)
    func sync(_ file: DiskFile) throws(DiskError)
    func truncate(_ file: DiskFile, size: Int) throws(DiskError)
    func size(_ file: DiskFile) throws(DiskError) -> Int
    func rename(_ source: String, to target: String) throws(DiskError)
    func remove(_ name: String) throws(DiskError)
    /// Names of the files, sorted.
    func list() throws(DiskError) -> [String]
    func exists(_ name: String) -> Bool
    /// Makes creates, renames and removes so far durable.
    func syncDirectory() throws(DiskError)
}

/// Checks a file name: 1 to 255 bytes, no '/', no NUL, not "." or "..".
public func validateDiskFileName(_ name: String) throws(DiskError) {
    let utf8 = name.utf8
    guard !utf8.isEmpty, utf8.count <= 255, name != ".", name != "..",
          !utf8.contains(UInt8(ascii: "/")), !utf8.contains(0)
    else {
        throw .invalidName(name: name)
    }
}
