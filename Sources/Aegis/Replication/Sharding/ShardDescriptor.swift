/// A half-open range of the ordered key space, `[start, end)`; an empty start is the
/// beginning of the space and a nil end its end.
public struct KeySpan: Sendable, Equatable, CustomStringConvertible {
    public var start: [UInt8]
    public var end: [UInt8]?

    public init(start: [UInt8], end: [UInt8]?) {
        if let end { precondition(start.lexicographicallyPrecedes(end), "a key range must not be empty") }
        self.start = start
        self.end = end
    }

    public static let everything = KeySpan(start: [], end: nil)

    public func contains(_ key: [UInt8]) -> Bool {
        guard !key.lexicographicallyPrecedes(start) else { return false }
        guard let end else { return true }
        return key.lexicographicallyPrecedes(end)
    }

    /// Whether `key` splits the range into two non-empty halves.
    public func canSplit(at key: [UInt8]) -> Bool {
        start.lexicographicallyPrecedes(key) && contains(key)
    }

    public var description: String {
        "[\(start.isEmpty ? "-inf" : KVText.show(start)), \(end.map { KVText.show($0) } ?? "+inf"))"
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(lengthPrefixed: start)
        writer.write(optionalBytes: end)
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> KeySpan {
        let start = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
        let end = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
        if let end, !start.lexicographicallyPrecedes(end) { throw .invalid("an empty key range") }
        return KeySpan(start: start, end: end)
    }
}

/// What one shard is: its range, how many times its range changed (`generation`, bumped
/// by every split, so the newer of two descriptors is known), and its replicas as its
/// Raft configuration says as of `configurationIndex` (a log index at or after that
/// entry: the entry's own, or the index of the snapshot a replica restored it from, so
/// the newer of two replica sets is known too, and one set may be reported under
/// several indices). The shard's own state machine holds the
/// authoritative range; the shard map holds copies for routing.
public struct ShardDescriptor: Sendable, Equatable, CustomStringConvertible {
    public var id: ShardID
    public var range: KeySpan
    public var generation: UInt64
    public var replicas: ClusterConfiguration
    public var configurationIndex: LogIndex

    public init(id: ShardID, range: KeySpan, generation: UInt64, replicas: ClusterConfiguration,
                configurationIndex: LogIndex) {
        self.id = id
        self.range = range
        self.generation = generation
        self.replicas = replicas
        self.configurationIndex = configurationIndex
    }

    /// Whether `other` (of the same shard) is newer in range or in replicas.
    public func isOlder(than other: ShardDescriptor) -> Bool {
        (generation, configurationIndex) < (other.generation, other.configurationIndex)
    }

    /// The same shard with the same range and replicas, whatever index each was seen at.
    public func hasSameLayout(as other: ShardDescriptor) -> Bool {
        id == other.id && range == other.range && generation == other.generation && replicas == other.replicas
    }

    public var description: String {
        "\(id) \(id.isMeta ? "(shard map)" : range.description) g\(generation) \(replicas)"
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(id.rawValue)
        range.encode(into: &writer)
        writer.write(generation)
        replicas.encode(into: &writer)
        writer.write(configurationIndex.rawValue)
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> ShardDescriptor {
        let id = ShardID(try reader.readUInt32())
        let range = try KeySpan.decode(from: &reader)
        let generation = try reader.readUInt64()
        let replicas = try ClusterConfiguration.decode(from: &reader)
        let configurationIndex = LogIndex(try reader.readUInt64())
        return ShardDescriptor(id: id, range: range, generation: generation, replicas: replicas,
            configurationIndex: configurationIndex)
    }
}
