/// What the storage engine can fail with. Every case says what went wrong and what to
/// do; none of them leaves the store inconsistent (a failed write changed nothing
/// visible, and a failed sync leaves the store refusing further writes until reopened).
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    case keyTooLarge(bytes: Int, limit: Int)
    case valueTooLarge(bytes: Int, limit: Int)
    case emptyKey
    /// One batch (a transaction's writes) is larger than the log takes at once.
    case batchTooLarge(bytes: Int, limit: Int)
    /// The data on disk failed its checksum: it is not returned as data.
    case corruption(file: String, detail: String)
    /// A transaction lost a conflict (first committer wins, or a read it depended on
    /// was overwritten); nothing of it was applied. Retry it.
    case conflict(key: [UInt8])
    /// The transaction was already committed or rolled back.
    case transactionFinished
    /// The disk door failed; `error` says how.
    case disk(DiskError)
    /// An earlier write or sync failed, so what is durable is unknown until the store is
    /// reopened (recovery then decides).
    case needsRecovery(String)
    case closed

    public var description: String {
        switch self {
        case let .keyTooLarge(bytes, limit):
            return "a key of \(bytes) bytes exceeds the limit of \(limit); use a shorter key"
        case let .valueTooLarge(bytes, limit):
            return "a value of \(bytes) bytes exceeds the limit of \(limit); split it or store it elsewhere"
        case let .batchTooLarge(bytes, limit):
            return "a transaction of \(bytes) bytes exceeds the limit of \(limit); split it into smaller transactions"
        case .emptyKey:
            return "the empty key is not allowed; give a key of at least one byte"
        case let .corruption(file, detail):
            return "'\(file)' is damaged (\(detail)); the data it held is not returned — restore it from a replica or a backup"
        case let .conflict(key):
            return "the transaction conflicts with a concurrent commit on key \(StorageError.show(key)); nothing was applied, retry it"
        case .transactionFinished:
            return "the transaction is already committed or rolled back; begin a new one"
        case let .disk(error):
            return error.description
        case let .needsRecovery(reason):
            return "the store stopped accepting writes after \(reason); reopen it to recover"
        case .closed:
            return "the store is closed; open it again"
        }
    }

    static func show(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "'" + String(decoding: bytes, as: UTF8.self) + "'" }
        return "0x" + bytes.prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// Size limits the engine enforces on every write.
public struct StorageLimits: Sendable, Equatable {
    public var keyBytesMax = 16 * 1024
    public var valueBytesMax = 1 << 20
    /// The encoded writes of one transaction.
    public var batchBytesMax = 4 << 20

    public init() {}

    func check(key: [UInt8], value: [UInt8]?) throws(StorageError) {
        guard !key.isEmpty else { throw .emptyKey }
        guard key.count <= keyBytesMax else { throw .keyTooLarge(bytes: key.count, limit: keyBytesMax) }
        if let value, value.count > valueBytesMax { throw .valueTooLarge(bytes: value.count, limit: valueBytesMax) }
    }
}

extension StorageError {
    /// Runs `body`, passing a disk error on as `.disk`.
    @inline(__always)
    static func wrapDisk<T>(_ body: () throws(DiskError) -> T) throws(StorageError) -> T {
        do {
            return try body()
        } catch {
            throw .disk(error)
        }
    }

    /// Whether the process is crashing (the error must be passed straight up).
    public var isCrash: Bool {
        if case .disk(.crashed) = self { return true }
        return false
    }
}
