/// What the meta group's log entries say: changes to the shard map.
public enum MetaCommand: Sendable, Equatable {
    /// Newer descriptors (from shard leaders' reports): replicas moved, or a split's two halves.
    case update([ShardDescriptor])
    /// Hand out a shard id for a split the placement driver is about to ask for.
    case allocateShardID
    case addNode(NodeID)
    /// Start (or stop) draining a node: the placement driver moves its replicas away.
    case decommission(NodeID, draining: Bool)
    /// `node` is leaving `shard` for good (its replica keeps a tombstone), so it is never
    /// chosen for that shard again.
    case retire(shard: ShardID, node: NodeID)

    static let wireTag: UInt8 = 0x4B

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(MetaCommand.wireTag)
        switch self {
        case let .update(descriptors):
            writer.write(UInt8(1))
            writer.write(UInt32(descriptors.count))
            for descriptor in descriptors { descriptor.encode(into: &writer) }
        case .allocateShardID:
            writer.write(UInt8(2))
        case let .addNode(node):
            writer.write(UInt8(3))
            writer.write(node.rawValue)
        case let .decommission(node, draining):
            writer.write(UInt8(4))
            writer.write(node.rawValue)
            writer.write(UInt8(draining ? 1 : 0))
        case let .retire(shard, node):
            writer.write(UInt8(5))
            writer.write(shard.rawValue)
            writer.write(node.rawValue)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> MetaCommand {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a meta command") }
        let command: MetaCommand
        switch try reader.readUInt8() {
        case 1:
            let count = Int(try reader.readUInt32())
            guard count <= 1024 else { throw .invalid("\(count) descriptors in one update") }
            var descriptors: [ShardDescriptor] = []
            for _ in 0..<count { descriptors.append(try ShardDescriptor.decode(from: &reader)) }
            command = .update(descriptors)
        case 2: command = .allocateShardID
        case 3: command = .addNode(NodeID(try reader.readUInt32()))
        case 4:
            let node = NodeID(try reader.readUInt32())
            command = .decommission(node, draining: try reader.readUInt8() == 1)
        case 5:
            let shard = ShardID(try reader.readUInt32())
            command = .retire(shard: shard, node: NodeID(try reader.readUInt32()))
        case let tag: throw .invalid("unknown meta command \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a meta command") }
        return command
    }
}

/// The meta group's replicated state: the shard map, and the (shard, node) pairs that
/// must never be paired again (a node removed from a shard keeps a tombstone for it).
public final class MetaStateMachine {
    public private(set) var map: ShardMap
    public private(set) var retired: [(shard: ShardID, node: NodeID)] = []
    public private(set) var appliedIndex: LogIndex

    public init(map: ShardMap, appliedIndex: LogIndex = ShardStateMachine.creationIndex) {
        self.map = map
        self.appliedIndex = appliedIndex
    }

    public func isRetired(_ node: NodeID, from shard: ShardID) -> Bool {
        retired.contains { $0.shard == shard && $0.node == node }
    }

    public enum Effect: Sendable, Equatable {
        case allocated(ShardID)
        case updateRefused(String)
    }

    public func apply(_ entry: LogEntry) -> [Effect] {
        precondition(entry.index == appliedIndex.next, "meta: entries apply in order: \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        guard entry.kind == .command else { return [] }
        guard let command = try? MetaCommand.decode(entry.data) else {
            preconditionFailure("meta: a committed command at \(entry.index) does not decode")
        }
        switch command {
        case let .update(descriptors):
            if let problem = map.update(descriptors) { return [.updateRefused(problem)] }
        case .allocateShardID:
            return [.allocated(map.allocateShardID())]
        case let .addNode(node):
            map.addNode(node)
        case let .decommission(node, draining):
            map.setDecommissioning(node, draining)
        case let .retire(shard, node):
            if !isRetired(node, from: shard) {
                retired.append((shard, node))
                retired.sort { ($0.shard, $0.node) < ($1.shard, $1.node) }
            }
        }
        return []
    }

    public func snapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 256)
        writer.write(UInt8(1))
        writer.write(appliedIndex.rawValue)
        map.encode(into: &writer)
        writer.write(UInt32(retired.count))
        for (shard, node) in retired {
            writer.write(shard.rawValue)
            writer.write(node.rawValue)
        }
        return writer.bytes
    }

    public static func restore(_ bytes: [UInt8]) throws(DecodeError) -> MetaStateMachine {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == 1 else { throw .invalid("unknown meta snapshot version") }
        let applied = LogIndex(try reader.readUInt64())
        let state = MetaStateMachine(map: try ShardMap.decode(from: &reader), appliedIndex: applied)
        let count = Int(try reader.readUInt32())
        guard count <= bytes.count else { throw .invalid("\(count) retired replicas in \(bytes.count) bytes") }
        for _ in 0..<count {
            let shard = ShardID(try reader.readUInt32())
            state.retired.append((shard, NodeID(try reader.readUInt32())))
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes in a meta snapshot") }
        return state
    }

    public var digest: UInt64 { StableHash64.digest(snapshot()) }
}
