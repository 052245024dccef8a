/// A commit timestamp: versions of a key are ordered by it, newest first. Assigned by
/// the store, strictly increasing across commits (later, a hybrid logical clock).
public typealias Timestamp = UInt64

/// One version of a key as the store keeps it: a value, or a tombstone.
public struct Version: Sendable, Equatable {
    public var timestamp: Timestamp
    /// Nil for a deletion (a tombstone).
    public var value: [UInt8]?

    public init(timestamp: Timestamp, value: [UInt8]?) {
        self.timestamp = timestamp
        self.value = value
    }
}

/// A key with one of its versions: the unit the LSM tree sorts. Order: key ascending
/// (bytes), then timestamp descending, so a scan meets a key's newest version first.
public struct VersionedKey: Sendable, Equatable, Comparable {
    public var key: [UInt8]
    public var timestamp: Timestamp

    public init(key: [UInt8], timestamp: Timestamp) {
        self.key = key
        self.timestamp = timestamp
    }

    public static func < (lhs: VersionedKey, rhs: VersionedKey) -> Bool {
        let order = compareBytes(lhs.key, rhs.key)
        if order != 0 { return order < 0 }
        return lhs.timestamp > rhs.timestamp
    }
}

/// Lexicographic comparison of byte strings: negative, zero or positive.
@inlinable
public func compareBytes(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
    lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in compareRaw(left, right) } }
}

/// One write of a batch: a value for a key, or its deletion.
public struct KeyWrite: Sendable, Equatable {
    public var key: [UInt8]
    /// Nil deletes the key.
    public var value: [UInt8]?

    public init(key: [UInt8], value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}
