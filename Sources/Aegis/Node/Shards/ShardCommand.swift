/// One participant's share of a transaction: the shard, and its operations with their
/// positions in the whole transaction (so reads come back in the client's order).
public struct ParticipantPlan: Sendable, Equatable {
    public var shard: ShardID
    /// The generation of the shard's range the plan was made against.
    public var generation: UInt64
    public var operations: [(index: Int, operation: TransactionOperation)]

    public init(shard: ShardID, generation: UInt64, operations: [(index: Int, operation: TransactionOperation)]) {
        self.shard = shard
        self.generation = generation
        self.operations = operations
    }

    public static func == (lhs: ParticipantPlan, rhs: ParticipantPlan) -> Bool {
        lhs.shard == rhs.shard && lhs.generation == rhs.generation && lhs.operations.count == rhs.operations.count
            && zip(lhs.operations, rhs.operations).allSatisfy { $0.index == $1.index && $0.operation == $1.operation }
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(shard.rawValue)
        writer.write(generation)
        writer.write(UInt32(operations.count))
        for (index, operation) in operations {
            writer.write(UInt32(index))
            operation.encode(into: &writer)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> ParticipantPlan {
        let shard = ShardID(try reader.readUInt32())
        let generation = try reader.readUInt64()
        let count = Int(try reader.readUInt32())
        guard count >= 1, count <= TransactionLimits.operationsMax else { throw .invalid("\(count) operations in a plan") }
        var operations: [(index: Int, operation: TransactionOperation)] = []
        for _ in 0..<count {
            let index = Int(try reader.readUInt32())
            guard index < TransactionLimits.operationsMax else { throw .invalid("operation index \(index)") }
            operations.append((index, try TransactionOperation.decode(from: &reader)))
        }
        return ParticipantPlan(shard: shard, generation: generation, operations: operations)
    }

    static func encode(_ plans: [ParticipantPlan], into writer: inout ByteWriter) {
        writer.write(UInt32(plans.count))
        for plan in plans { plan.encode(into: &writer) }
    }

    static func decodeList(from reader: inout ByteReader) throws(DecodeError) -> [ParticipantPlan] {
        let count = Int(try reader.readUInt32())
        guard count >= 1, count <= TransactionLimits.operationsMax else { throw .invalid("\(count) participants") }
        var plans: [ParticipantPlan] = []
        for _ in 0..<count { plans.append(try decode(from: &reader)) }
        return plans
    }
}

/// What a data shard's log entries say. Every replica applies them in log order; the
/// leader then acts on what they produced (answers, votes, decisions).
public enum ShardCommand: Sendable, Equatable {
    /// A transaction wholly inside this shard, committed in this one entry (one-phase).
    case execute(TransactionID, plan: ParticipantPlan, proposed: HybridTimestamp)
    /// This shard coordinates a transaction across `participants`: record it, pending.
    case begin(TransactionID, participants: [ParticipantPlan], proposed: HybridTimestamp)
    /// This shard's share of a transaction another shard coordinates: lock, read, stage, vote.
    case prepare(TransactionID, coordinator: ShardID, plan: ParticipantPlan, proposed: HybridTimestamp)
    /// The coordinator's decision; the first one in the log wins.
    case decide(TransactionID, TransactionOutcome)
    /// The decision reaches a participant: apply or drop the staged writes, release the locks.
    case finish(TransactionID, coordinator: ShardID, commit: Bool, timestamp: HybridTimestamp)
    /// Every participant applied the decision: the coordinator's record can go.
    case forget(TransactionID)
    /// Split this shard at `key`: the keys from there on go to a new shard `right`.
    case split(key: [UInt8], right: ShardID, generation: UInt64)

    static let wireTag: UInt8 = 0x53

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(ShardCommand.wireTag)
        switch self {
        case let .execute(id, plan, proposed):
            writer.write(UInt8(1))
            id.encode(into: &writer)
            plan.encode(into: &writer)
            proposed.encode(into: &writer)
        case let .begin(id, participants, proposed):
            writer.write(UInt8(2))
            id.encode(into: &writer)
            ParticipantPlan.encode(participants, into: &writer)
            proposed.encode(into: &writer)
        case let .prepare(id, coordinator, plan, proposed):
            writer.write(UInt8(3))
            id.encode(into: &writer)
            writer.write(coordinator.rawValue)
            plan.encode(into: &writer)
            proposed.encode(into: &writer)
        case let .decide(id, outcome):
            writer.write(UInt8(4))
            id.encode(into: &writer)
            outcome.encode(into: &writer)
        case let .finish(id, coordinator, commit, timestamp):
            writer.write(UInt8(5))
            id.encode(into: &writer)
            writer.write(coordinator.rawValue)
            writer.write(UInt8(commit ? 1 : 0))
            timestamp.encode(into: &writer)
        case let .forget(id):
            writer.write(UInt8(6))
            id.encode(into: &writer)
        case let .split(key, right, generation):
            writer.write(UInt8(7))
            writer.write(lengthPrefixed: key)
            writer.write(right.rawValue)
            writer.write(generation)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ShardCommand {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a shard command") }
        let command: ShardCommand
        switch try reader.readUInt8() {
        case 1:
            let id = try TransactionID.decode(from: &reader)
            let plan = try ParticipantPlan.decode(from: &reader)
            command = .execute(id, plan: plan, proposed: try HybridTimestamp.decode(from: &reader))
        case 2:
            let id = try TransactionID.decode(from: &reader)
            let participants = try ParticipantPlan.decodeList(from: &reader)
            command = .begin(id, participants: participants, proposed: try HybridTimestamp.decode(from: &reader))
        case 3:
            let id = try TransactionID.decode(from: &reader)
            let coordinator = ShardID(try reader.readUInt32())
            let plan = try ParticipantPlan.decode(from: &reader)
            command = .prepare(id, coordinator: coordinator, plan: plan, proposed: try HybridTimestamp.decode(from: &reader))
        case 4:
            let id = try TransactionID.decode(from: &reader)
            command = .decide(id, try TransactionOutcome.decode(from: &reader))
        case 5:
            let id = try TransactionID.decode(from: &reader)
            let coordinator = ShardID(try reader.readUInt32())
            let commit = try reader.readUInt8()
            guard commit <= 1 else { throw .invalid("bad commit flag") }
            command = .finish(id, coordinator: coordinator, commit: commit == 1,
                timestamp: try HybridTimestamp.decode(from: &reader))
        case 6:
            command = .forget(try TransactionID.decode(from: &reader))
        case 7:
            let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let right = ShardID(try reader.readUInt32())
            command = .split(key: key, right: right, generation: try reader.readUInt64())
        case let tag:
            throw .invalid("unknown shard command \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a shard command") }
        return command
    }
}
