/// A store of versioned keys: what the MVCC layer (and through it every data model)
/// runs on. Two implementations: `MemoryBackend` (no persistence, for tests and
/// ephemeral nodes) and `LSMTree` (the disk engine). Both pass the same conformance
/// suite (Tests/AegisTests/StorageConformanceTests.swift).
///
/// Contract:
/// - `apply` installs a batch atomically at a timestamp above every earlier one; a key
///   written twice in one batch keeps its last write.
/// - `get` and `scan` at timestamp T see, per key, the newest version at or below T;
///   a tombstone hides the key.
/// - What is applied is durable once `sync()` returns (as far as the backend persists
///   at all); `durableTimestamp` says how far that goes.
/// - Readers never ask below `lowWater`; versions only such readers could see may be
///   dropped (when is the backend's business; `collectGarbage()` does it now).
/// - Limits: `StorageLimits` on keys, values and batch size; a refused write changes
///   nothing.
public protocol StorageBackend: AnyObject {
    var limits: StorageLimits { get }
    var lastTimestamp: Timestamp { get }
    var durableTimestamp: Timestamp { get }
    var lowWater: Timestamp { get set }
    func apply(_ writes: [KeyWrite], at timestamp: Timestamp) throws(StorageError)
    func sync() throws(StorageError)
    func get(_ key: [UInt8], at timestamp: Timestamp) throws(StorageError) -> Version?
    func scan(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) throws(StorageError)
        -> [(key: [UInt8], value: [UInt8])]
    /// The same rows as `scan`, packed (what bulk readers such as SQL table scans use).
    func scanChunk(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) throws(StorageError) -> ScanChunk
    /// Drops now every version no reader at or above `lowWater` can see.
    func collectGarbage() throws(StorageError)
    /// Every stored version of `key`, newest first (for inspection and tests).
    func versions(of key: [UInt8]) throws(StorageError) -> [Version]
}

extension StorageBackend {
    public func scanChunk(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) throws(StorageError) -> ScanChunk {
        ScanChunk(try scan(from: start, to: end, at: timestamp, limit: limit))
    }
}

extension LSMTree: StorageBackend {
    public var limits: StorageLimits { options.limits }

    public func collectGarbage() throws(StorageError) {
        try compactAll()
    }

    public func versions(of key: [UInt8]) throws(StorageError) -> [Version] {
        let cursor = makeCursor()
        try cursor.seek(key, timestamp: .max)
        var result: [Version] = []
        while cursor.isValid && cursor.key == key {
            result.append(Version(timestamp: cursor.timestamp, value: cursor.value))
            try cursor.next()
        }
        return result
    }
}

/// Versions kept in memory: a sorted array of keys, each with its versions newest
/// first. Nothing survives the process; `sync` only moves `durableTimestamp`.
public final class MemoryBackend: StorageBackend {
    public let limits: StorageLimits
    private var keys: [[UInt8]] = []
    private var versionLists: [[Version]] = []
    public private(set) var lastTimestamp: Timestamp = 0
    public private(set) var durableTimestamp: Timestamp = 0
    public var lowWater: Timestamp = 0

    public init(limits: StorageLimits = StorageLimits()) {
        self.limits = limits
    }

    /// The index of the first key at or after `key`.
    private func position(of key: [UInt8]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if compareBytes(keys[middle], key) < 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public func apply(_ writes: [KeyWrite], at timestamp: Timestamp) throws(StorageError) {
        precondition(timestamp > lastTimestamp, "timestamps must increase: \(timestamp) after \(lastTimestamp)")
        for write in writes { try limits.check(key: write.key, value: write.value) }
        let batch = LSMTree.distinct(writes)
        let bytes = LSMTree.commitBytes(batch)
        guard bytes <= limits.batchBytesMax else { throw .batchTooLarge(bytes: bytes, limit: limits.batchBytesMax) }
        for write in batch {
            let index = position(of: write.key)
            let version = Version(timestamp: timestamp, value: write.value)
            if index < keys.count, keys[index] == write.key {
                versionLists[index].insert(version, at: 0)
                prune(index)
            } else {
                keys.insert(write.key, at: index)
                versionLists.insert([version], at: index)
            }
        }
        lastTimestamp = timestamp
    }

    public func sync() throws(StorageError) {
        durableTimestamp = lastTimestamp
    }

    public func get(_ key: [UInt8], at timestamp: Timestamp) throws(StorageError) -> Version? {
        let index = position(of: key)
        guard index < keys.count, keys[index] == key else { return nil }
        return versionLists[index].first { $0.timestamp <= timestamp }
    }

    public func scan(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) throws(StorageError)
        -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        var index = position(of: start)
        while index < keys.count, result.count < limit {
            if let end, compareBytes(keys[index], end) >= 0 { break }
            if let version = versionLists[index].first(where: { $0.timestamp <= timestamp }), let value = version.value {
                result.append((keys[index], value))
            }
            index += 1
        }
        return result
    }

    /// Keeps, of the versions at or below the low-water mark, only the newest.
    private func prune(_ index: Int) {
        let list = versionLists[index]
        guard let visible = list.firstIndex(where: { $0.timestamp <= lowWater }), visible + 1 < list.count else { return }
        versionLists[index].removeSubrange((visible + 1)...)
    }

    public func collectGarbage() throws(StorageError) {
        var index = 0
        while index < keys.count {
            prune(index)
            // A key whose only version at the low-water mark is a tombstone is gone for
            // every reader.
            if versionLists[index].count == 1, versionLists[index][0].value == nil, versionLists[index][0].timestamp <= lowWater {
                keys.remove(at: index)
                versionLists.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    public func versions(of key: [UInt8]) throws(StorageError) -> [Version] {
        let index = position(of: key)
        guard index < keys.count, keys[index] == key else { return [] }
        return versionLists[index]
    }
}
