/// The shard map: which shard holds which range of keys, and where its replicas are.
/// The meta group (shard 0) replicates it; every node and gateway keeps a copy that may
/// lag, and routes with it. A lagging copy is safe: each shard checks every key against
/// its own range and answers `stale map` for a key it no longer holds, and the router
/// then learns the newer descriptors and tries again.
///
/// Invariant: the data shards' ranges are sorted, contiguous and cover the whole key
/// space, so every key has exactly one shard.
public struct ShardMap: Sendable, Equatable, CustomStringConvertible {
    /// Bumped by every change, so the newer of two copies is known.
    public private(set) var version: UInt64
    public private(set) var meta: ShardDescriptor
    /// Data shards, by range start.
    public private(set) var shards: [ShardDescriptor]
    /// The nodes of the cluster, sorted, and which are being drained of replicas.
    public private(set) var nodes: [NodeID]
    public private(set) var decommissioning: [NodeID]
    /// The next id a split may take.
    public private(set) var nextShardID: ShardID

    public init(meta: ShardDescriptor, shards: [ShardDescriptor], nodes: [NodeID]) {
        version = 1
        self.meta = meta
        self.shards = shards.sorted { $0.range.start.lexicographicallyPrecedes($1.range.start) }
        self.nodes = Array(Set(nodes)).sorted()
        decommissioning = []
        nextShardID = ShardID((shards.map(\.id.rawValue).max() ?? 0) + 1)
        precondition(partitionProblem(self.shards) == nil, "initial shards must partition the key space")
    }

    /// The shard holding `key` (binary search over range starts).
    public func shard(for key: [UInt8]) -> ShardDescriptor {
        var low = 0
        var high = shards.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if key.lexicographicallyPrecedes(shards[middle].range.start) { high = middle - 1 } else { low = middle }
        }
        return shards[low]
    }

    public func descriptor(of id: ShardID) -> ShardDescriptor? {
        id.isMeta ? meta : shards.first { $0.id == id }
    }

    /// Every group, the meta group first.
    public var allShards: [ShardDescriptor] { [meta] + shards }

    /// How many replicas each node holds (voters and learners), in node order.
    public var replicaCounts: [(node: NodeID, replicas: Int)] {
        nodes.map { node in (node, allShards.filter { $0.replicas.isMember(node) }.count) }
    }

    /// Why `shards` is not a partition of the key space, or nil when it is.
    func partitionProblem(_ shards: [ShardDescriptor]) -> String? {
        guard let first = shards.first else { return "no shards" }
        guard first.range.start.isEmpty else { return "the first shard starts at \(KVText.show(first.range.start))" }
        for (left, right) in zip(shards, shards.dropFirst()) {
            guard let end = left.range.end, end == right.range.start else {
                return "\(left.id) ends at \(left.range.end.map { KVText.show($0) } ?? "+inf") but \(right.id) starts at \(KVText.show(right.range.start))"
            }
        }
        guard shards.last!.range.end == nil else { return "the last shard does not reach the end of the key space" }
        let ids = shards.map(\.id)
        guard Set(ids).count == ids.count, !ids.contains(.meta) else { return "shard ids repeat" }
        return nil
    }

    // MARK: changes (applied by the meta group, in log order)

    /// Takes the descriptors that are newer than the map's; they must leave the map a
    /// partition (a split arrives as its two halves together). Returns why not, or nil.
    @discardableResult
    public mutating func update(_ descriptors: [ShardDescriptor]) -> String? {
        var changed = false
        var next = shards
        for descriptor in descriptors {
            if descriptor.id.isMeta {
                if meta.isOlder(than: descriptor) {
                    meta = descriptor
                    changed = true
                }
                continue
            }
            if let position = next.firstIndex(where: { $0.id == descriptor.id }) {
                guard next[position].isOlder(than: descriptor) else { continue }
                next[position] = descriptor
            } else {
                next.append(descriptor)
            }
            changed = true
        }
        guard changed else { return nil }
        next.sort { $0.range.start.lexicographicallyPrecedes($1.range.start) }
        if let problem = partitionProblem(next) { return "refused: " + problem }
        shards = next
        for descriptor in shards where descriptor.id >= nextShardID { nextShardID = ShardID(descriptor.id.rawValue + 1) }
        version += 1
        return nil
    }

    /// Hands out a new shard id for a split.
    public mutating func allocateShardID() -> ShardID {
        let id = nextShardID
        nextShardID = ShardID(id.rawValue + 1)
        version += 1
        return id
    }

    public mutating func addNode(_ node: NodeID) {
        guard !nodes.contains(node) else { return }
        nodes = (nodes + [node]).sorted()
        version += 1
    }

    public mutating func setDecommissioning(_ node: NodeID, _ draining: Bool) {
        let next = draining ? Array(Set(decommissioning + [node])).sorted() : decommissioning.filter { $0 != node }
        guard next != decommissioning else { return }
        decommissioning = next
        version += 1
    }

    public var description: String {
        (["map v\(version)", meta.description] + shards.map(\.description)).joined(separator: "\n")
    }

    // MARK: wire form

    public func encode(into writer: inout ByteWriter) {
        writer.write(version)
        meta.encode(into: &writer)
        writer.write(UInt32(shards.count))
        for shard in shards { shard.encode(into: &writer) }
        writer.write(UInt32(nodes.count))
        for node in nodes { writer.write(node.rawValue) }
        writer.write(UInt32(decommissioning.count))
        for node in decommissioning { writer.write(node.rawValue) }
        writer.write(nextShardID.rawValue)
    }

    public static let shardsMax = 100_000

    public static func decode(from reader: inout ByteReader) throws(DecodeError) -> ShardMap {
        let version = try reader.readUInt64()
        let meta = try ShardDescriptor.decode(from: &reader)
        let count = Int(try reader.readUInt32())
        guard count >= 1, count <= shardsMax else { throw .invalid("\(count) shards in a map") }
        var shards: [ShardDescriptor] = []
        for _ in 0..<count { shards.append(try ShardDescriptor.decode(from: &reader)) }
        let nodeCount = Int(try reader.readUInt32())
        guard nodeCount <= clusterMembersMax * 16 else { throw .invalid("\(nodeCount) nodes in a map") }
        var nodes: [NodeID] = []
        for _ in 0..<nodeCount { nodes.append(NodeID(try reader.readUInt32())) }
        let drainingCount = Int(try reader.readUInt32())
        guard drainingCount <= nodeCount else { throw .invalid("more draining nodes than nodes") }
        var draining: [NodeID] = []
        for _ in 0..<drainingCount { draining.append(NodeID(try reader.readUInt32())) }
        let next = ShardID(try reader.readUInt32())
        var map = ShardMap(unchecked: version, meta: meta, shards: shards, nodes: nodes, decommissioning: draining, nextShardID: next)
        if let problem = map.partitionProblem(map.shards) { throw .invalid("the map is not a partition: \(problem)") }
        map.shards = shards
        return map
    }

    private init(unchecked version: UInt64, meta: ShardDescriptor, shards: [ShardDescriptor], nodes: [NodeID],
                 decommissioning: [NodeID], nextShardID: ShardID) {
        self.version = version
        self.meta = meta
        self.shards = shards
        self.nodes = nodes
        self.decommissioning = decommissioning
        self.nextShardID = nextShardID
    }

    /// Evenly spaced split keys for `count` shards over printable ASCII ('0' to 'z'),
    /// where the keys of most deployments start.
    public static func defaultSplitKeys(count: Int) -> [[UInt8]] {
        guard count > 1 else { return [] }
        let low = Int(UInt8(ascii: "0"))
        let high = Int(UInt8(ascii: "z")) + 1
        return (1..<count).map { [UInt8(low + (high - low) * $0 / count)] }
    }

    /// The ranges between `splitKeys` (sorted, distinct, none empty).
    public static func ranges(splitKeys: [[UInt8]]) -> [KeySpan] {
        var ranges: [KeySpan] = []
        var start: [UInt8] = []
        for key in splitKeys {
            ranges.append(KeySpan(start: start, end: key))
            start = key
        }
        ranges.append(KeySpan(start: start, end: nil))
        return ranges
    }
}
