/// Wire forms of the sharded protocols. Decoding refuses anything malformed or over
/// its bounds, so bytes from the network can never crash a node.
extension ScannedEntry {
    static func encode(_ entries: [ScannedEntry], into writer: inout ByteWriter) {
        writer.write(UInt32(entries.count))
        for entry in entries {
            writer.write(lengthPrefixed: entry.key)
            writer.write(lengthPrefixed: entry.value)
            entry.timestamp.encode(into: &writer)
        }
    }

    static func decodeList(from reader: inout ByteReader) throws(DecodeError) -> [ScannedEntry] {
        let count = Int(try reader.readUInt32())
        guard count <= max(KVLimits.scanEntriesMax, TransactionLimits.readEntriesMax) else { throw .invalid("\(count) entries in one reply") }
        var entries: [ScannedEntry] = []
        for _ in 0..<count {
            let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let value = try reader.readLengthPrefixed(maximumCount: TransactionLimits.listBytesMax)
            entries.append(ScannedEntry(key: key, value: value, timestamp: try HybridTimestamp.decode(from: &reader)))
        }
        return entries
    }
}

extension ShardClientRequest {
    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(ShardClientRequest.wireTag)
        writer.write(clientID)
        writer.write(sequence)
        switch operation {
        case let .transaction(operations):
            writer.write(UInt8(1))
            TransactionOperation.encode(operations, into: &writer)
        case let .scan(start, end, limit):
            writer.write(UInt8(2))
            writer.write(lengthPrefixed: start)
            writer.write(optionalBytes: end)
            writer.write(UInt32(max(0, min(limit, Int(UInt32.max)))))
        case .map:
            writer.write(UInt8(3))
        case let .split(shard, key):
            writer.write(UInt8(4))
            writer.write(shard.rawValue)
            writer.write(optionalBytes: key)
        case let .move(shard, from, to):
            writer.write(UInt8(5))
            writer.write(shard.rawValue)
            writer.write(from.rawValue)
            writer.write(to.rawValue)
        case let .decommission(node, draining):
            writer.write(UInt8(6))
            writer.write(node.rawValue)
            writer.write(UInt8(draining ? 1 : 0))
        case let .read(start, end, limit):
            writer.write(UInt8(7))
            writer.write(lengthPrefixed: start)
            writer.write(optionalBytes: end)
            writer.write(UInt32(max(0, min(limit, Int(UInt32.max)))))
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ShardClientRequest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a shard client request") }
        let clientID = try reader.readUInt64()
        let sequence = try reader.readUInt64()
        let operation: ShardClientOperation
        switch try reader.readUInt8() {
        case 1: operation = .transaction(try TransactionOperation.decodeList(from: &reader))
        case 2:
            let start = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let end = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
            operation = .scan(start: start, end: end, limit: Int(try reader.readUInt32()))
        case 3: operation = .map
        case 4:
            let shard = ShardID(try reader.readUInt32())
            operation = .split(shard: shard, key: try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax))
        case 5:
            let shard = ShardID(try reader.readUInt32())
            let from = NodeID(try reader.readUInt32())
            operation = .move(shard: shard, from: from, to: NodeID(try reader.readUInt32()))
        case 6:
            let node = NodeID(try reader.readUInt32())
            operation = .decommission(node, draining: try reader.readUInt8() == 1)
        case 7:
            let start = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let end = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
            operation = .read(start: start, end: end, limit: Int(try reader.readUInt32()))
        case let tag: throw .invalid("unknown shard client operation \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a shard client request") }
        return ShardClientRequest(clientID: clientID, sequence: sequence, operation: operation)
    }
}

extension ShardClientResponse {
    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(ShardClientResponse.wireTag)
        writer.write(clientID)
        writer.write(sequence)
        switch outcome {
        case let .transaction(outcome):
            writer.write(UInt8(1))
            outcome.encode(into: &writer)
        case let .entries(entries, complete):
            writer.write(UInt8(2))
            ScannedEntry.encode(entries, into: &writer)
            writer.write(UInt8(complete ? 1 : 0))
        case let .read(entries, coveredEnd):
            writer.write(UInt8(8))
            ScannedEntry.encode(entries, into: &writer)
            writer.write(optionalBytes: coveredEnd)
        case let .map(map):
            writer.write(UInt8(3))
            map.encode(into: &writer)
        case let .accepted(text):
            writer.write(UInt8(4))
            writer.write(text)
        case let .unavailable(reason):
            writer.write(UInt8(5))
            writer.write(reason)
        case let .unknown(reason):
            writer.write(UInt8(6))
            writer.write(reason)
        case let .refused(reason):
            writer.write(UInt8(7))
            writer.write(reason)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ShardClientResponse {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a shard client response") }
        let clientID = try reader.readUInt64()
        let sequence = try reader.readUInt64()
        let outcome: ShardClientOutcome
        let reasonMax = TransactionLimits.reasonBytesMax * 4
        switch try reader.readUInt8() {
        case 1: outcome = .transaction(try TransactionOutcome.decode(from: &reader))
        case 2:
            let entries = try ScannedEntry.decodeList(from: &reader)
            outcome = .entries(entries, complete: try reader.readUInt8() == 1)
        case 8:
            let entries = try ScannedEntry.decodeList(from: &reader)
            outcome = .read(entries, coveredEnd: try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax))
        case 3: outcome = .map(try ShardMap.decode(from: &reader))
        case 4: outcome = .accepted(try reader.readString(maximumCount: reasonMax))
        case 5: outcome = .unavailable(try reader.readString(maximumCount: reasonMax))
        case 6: outcome = .unknown(try reader.readString(maximumCount: reasonMax))
        case 7: outcome = .refused(try reader.readString(maximumCount: reasonMax))
        case let tag: throw .invalid("unknown shard client outcome \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a shard client response") }
        return ShardClientResponse(clientID: clientID, sequence: sequence, outcome: outcome)
    }
}

extension ShardStateMachine.DescriptorFields {
    func encode(into writer: inout ByteWriter) {
        writer.write(id.rawValue)
        range.encode(into: &writer)
        writer.write(generation)
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> ShardStateMachine.DescriptorFields {
        let id = ShardID(try reader.readUInt32())
        let range = try KeySpan.decode(from: &reader)
        return ShardStateMachine.DescriptorFields(id: id, range: range, generation: try reader.readUInt64())
    }
}

extension ConfigurationChange {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case let .addLearner(node):
            writer.write(UInt8(1))
            writer.write(node.rawValue)
        case let .promote(node):
            writer.write(UInt8(2))
            writer.write(node.rawValue)
        case let .remove(node):
            writer.write(UInt8(3))
            writer.write(node.rawValue)
        }
    }

    static func decode(from reader: inout ByteReader) throws(DecodeError) -> ConfigurationChange {
        let tag = try reader.readUInt8()
        let node = NodeID(try reader.readUInt32())
        switch tag {
        case 1: return .addLearner(node)
        case 2: return .promote(node)
        case 3: return .remove(node)
        default: throw .invalid("unknown configuration change \(tag)")
        }
    }
}

extension ShardMessage {
    /// The message with the sender's clock reading in front.
    public func encoded(clock: HybridTimestamp) -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        writer.write(ShardMessage.wireTag)
        clock.encode(into: &writer)
        switch self {
        case let .execute(request, shard, transaction, plan):
            writer.write(UInt8(1))
            writer.write(request)
            writer.write(shard.rawValue)
            transaction.encode(into: &writer)
            plan.encode(into: &writer)
        case let .begin(request, shard, transaction, participants):
            writer.write(UInt8(2))
            writer.write(request)
            writer.write(shard.rawValue)
            transaction.encode(into: &writer)
            ParticipantPlan.encode(participants, into: &writer)
        case let .reply(request, reply):
            writer.write(UInt8(3))
            writer.write(request)
            switch reply {
            case let .outcome(outcome):
                writer.write(UInt8(1))
                outcome.encode(into: &writer)
            case let .notLeader(shard, leader):
                writer.write(UInt8(2))
                writer.write(shard.rawValue)
                writer.write(leader?.rawValue ?? 0)
            case let .staleMap(fields):
                writer.write(UInt8(3))
                fields.encode(into: &writer)
            case let .busy(reason):
                writer.write(UInt8(4))
                writer.write(String(reason.prefix(TransactionLimits.reasonBytesMax / 4)))
            case let .fetched(entries, coveredEnd):
                writer.write(UInt8(5))
                ScannedEntry.encode(entries, into: &writer)
                writer.write(optionalBytes: coveredEnd)
            }
        case let .fetch(request, shard, start, end, limit):
            writer.write(UInt8(14))
            writer.write(request)
            writer.write(shard.rawValue)
            writer.write(lengthPrefixed: start)
            writer.write(optionalBytes: end)
            writer.write(UInt32(max(0, min(limit, Int(UInt32.max)))))
        case let .prepare(coordinator, participant, transaction, plan):
            writer.write(UInt8(4))
            writer.write(coordinator.rawValue)
            writer.write(participant.rawValue)
            transaction.encode(into: &writer)
            plan.encode(into: &writer)
        case let .vote(coordinator, participant, transaction, vote):
            writer.write(UInt8(5))
            writer.write(coordinator.rawValue)
            writer.write(participant.rawValue)
            transaction.encode(into: &writer)
            vote.encode(into: &writer)
        case let .finish(coordinator, participant, transaction, commit, timestamp):
            writer.write(UInt8(6))
            writer.write(coordinator.rawValue)
            writer.write(participant.rawValue)
            transaction.encode(into: &writer)
            writer.write(UInt8(commit ? 1 : 0))
            timestamp.encode(into: &writer)
        case let .finished(coordinator, participant, transaction):
            writer.write(UInt8(7))
            writer.write(coordinator.rawValue)
            writer.write(participant.rawValue)
            transaction.encode(into: &writer)
        case let .resolve(coordinator, participant, transaction):
            writer.write(UInt8(8))
            writer.write(coordinator.rawValue)
            writer.write(participant.rawValue)
            transaction.encode(into: &writer)
        case let .reports(reports, hosted):
            writer.write(UInt8(9))
            writer.write(UInt32(hosted.count))
            for replica in hosted {
                writer.write(replica.shard.rawValue)
                writer.write(replica.configurationIndex.rawValue)
            }
            writer.write(UInt32(reports.count))
            for report in reports {
                report.descriptor.encode(into: &writer)
                writer.write(report.leader.rawValue)
                writer.write(UInt64(report.keys))
                writer.write(UInt64(report.bytes))
                writer.write(UInt32(report.lag.count))
                for (node, entries) in report.lag {
                    writer.write(node.rawValue)
                    writer.write(entries)
                }
                writer.write(optionalBytes: report.middleKey)
                writer.write(UInt32(report.transactionsInFlight))
                writer.write(report.operationsApplied)
            }
        case let .order(request, shard, order):
            writer.write(UInt8(10))
            writer.write(request)
            writer.write(shard.rawValue)
            switch order {
            case let .split(key, right, generation):
                writer.write(UInt8(1))
                writer.write(lengthPrefixed: key)
                writer.write(right.rawValue)
                writer.write(generation)
            case let .change(change):
                writer.write(UInt8(2))
                change.encode(into: &writer)
            case let .transferLeadership(target):
                writer.write(UInt8(3))
                writer.write(target.rawValue)
            case .host:
                writer.write(UInt8(4))
            case let .drop(through):
                writer.write(UInt8(5))
                writer.write(through.rawValue)
            }
        case let .orderDone(request, shard, refused):
            writer.write(UInt8(11))
            writer.write(request)
            writer.write(shard.rawValue)
            writer.write(optionalBytes: refused.map { Array($0.prefix(TransactionLimits.reasonBytesMax / 4).utf8) })
        case let .mapRequest(request):
            writer.write(UInt8(12))
            writer.write(request)
        case let .mapReply(request, map, leaders):
            writer.write(UInt8(13))
            writer.write(request)
            map.encode(into: &writer)
            writer.write(UInt32(leaders.count))
            for known in leaders {
                writer.write(known.shard.rawValue)
                writer.write(known.leader.rawValue)
            }
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (ShardMessage, clock: HybridTimestamp) {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a shard message") }
        let clock = try HybridTimestamp.decode(from: &reader)
        let message: ShardMessage
        switch try reader.readUInt8() {
        case 1:
            let request = try reader.readUInt64()
            let shard = ShardID(try reader.readUInt32())
            let transaction = try TransactionID.decode(from: &reader)
            message = .execute(request: request, shard: shard, transaction, plan: try ParticipantPlan.decode(from: &reader))
        case 2:
            let request = try reader.readUInt64()
            let shard = ShardID(try reader.readUInt32())
            let transaction = try TransactionID.decode(from: &reader)
            message = .begin(request: request, shard: shard, transaction,
                participants: try ParticipantPlan.decodeList(from: &reader))
        case 3:
            let request = try reader.readUInt64()
            let reply: GroupReply
            switch try reader.readUInt8() {
            case 1: reply = .outcome(try TransactionOutcome.decode(from: &reader))
            case 2:
                let shard = ShardID(try reader.readUInt32())
                let leader = try reader.readUInt32()
                reply = .notLeader(shard, leader: leader == 0 ? nil : NodeID(leader))
            case 3: reply = .staleMap(try ShardStateMachine.DescriptorFields.decode(from: &reader))
            case 4: reply = .busy(try reader.readString(maximumCount: TransactionLimits.reasonBytesMax))
            case 5:
                let entries = try ScannedEntry.decodeList(from: &reader)
                reply = .fetched(entries, coveredEnd: try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax))
            case let tag: throw .invalid("unknown group reply \(tag)")
            }
            message = .reply(request: request, reply)
        case 4:
            let coordinator = ShardID(try reader.readUInt32())
            let participant = ShardID(try reader.readUInt32())
            let transaction = try TransactionID.decode(from: &reader)
            message = .prepare(coordinator: coordinator, participant: participant, transaction,
                plan: try ParticipantPlan.decode(from: &reader))
        case 5:
            let coordinator = ShardID(try reader.readUInt32())
            let participant = ShardID(try reader.readUInt32())
            let transaction = try TransactionID.decode(from: &reader)
            message = .vote(coordinator: coordinator, participant: participant, transaction, try Vote.decode(from: &reader))
        case 6:
            let coordinator = ShardID(try reader.readUInt32())
            let participant = ShardID(try reader.readUInt32())
            let transaction = try TransactionID.decode(from: &reader)
            let commit = try reader.readUInt8() == 1
            message = .finish(coordinator: coordinator, participant: participant, transaction, commit: commit,
                timestamp: try HybridTimestamp.decode(from: &reader))
        case 7:
            let coordinator = ShardID(try reader.readUInt32())
            let participant = ShardID(try reader.readUInt32())
            message = .finished(coordinator: coordinator, participant: participant, try TransactionID.decode(from: &reader))
        case 8:
            let coordinator = ShardID(try reader.readUInt32())
            let participant = ShardID(try reader.readUInt32())
            message = .resolve(coordinator: coordinator, participant: participant, try TransactionID.decode(from: &reader))
        case 9:
            let hostedCount = Int(try reader.readUInt32())
            guard hostedCount <= MultiRaftLogStore.groupsMax else { throw .invalid("\(hostedCount) hosted replicas") }
            var hosted: [HostedReplica] = []
            for _ in 0..<hostedCount {
                let shard = ShardID(try reader.readUInt32())
                hosted.append(HostedReplica(shard: shard, configurationIndex: LogIndex(try reader.readUInt64())))
            }
            let count = Int(try reader.readUInt32())
            guard count <= MultiRaftLogStore.groupsMax else { throw .invalid("\(count) reports") }
            var reports: [ShardReport] = []
            for _ in 0..<count {
                let descriptor = try ShardDescriptor.decode(from: &reader)
                let leader = NodeID(try reader.readUInt32())
                let keys = Int(try reader.readUInt64())
                let bytes = Int(try reader.readUInt64())
                let lagCount = Int(try reader.readUInt32())
                guard lagCount <= clusterMembersMax else { throw .invalid("\(lagCount) members in a report") }
                var lag: [(node: NodeID, entries: UInt64)] = []
                for _ in 0..<lagCount {
                    let node = NodeID(try reader.readUInt32())
                    lag.append((node, try reader.readUInt64()))
                }
                let middle = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
                let inFlight = Int(try reader.readUInt32())
                reports.append(ShardReport(descriptor: descriptor, leader: leader, keys: keys, bytes: bytes, lag: lag,
                    middleKey: middle, transactionsInFlight: inFlight, operationsApplied: try reader.readUInt64()))
            }
            message = .reports(reports, hosted: hosted)
        case 10:
            let request = try reader.readUInt64()
            let shard = ShardID(try reader.readUInt32())
            let order: PlacementOrder
            switch try reader.readUInt8() {
            case 1:
                let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
                let right = ShardID(try reader.readUInt32())
                order = .split(key: key, right: right, generation: try reader.readUInt64())
            case 2: order = .change(try ConfigurationChange.decode(from: &reader))
            case 3: order = .transferLeadership(to: NodeID(try reader.readUInt32()))
            case 4: order = .host
            case 5: order = .drop(through: LogIndex(try reader.readUInt64()))
            case let tag: throw .invalid("unknown placement order \(tag)")
            }
            message = .order(request: request, shard: shard, order)
        case 11:
            let request = try reader.readUInt64()
            let shard = ShardID(try reader.readUInt32())
            let refused = try reader.readOptionalBytes(maximumCount: TransactionLimits.reasonBytesMax)
            message = .orderDone(request: request, shard: shard, refused: refused.map { String(decoding: $0, as: UTF8.self) })
        case 12:
            message = .mapRequest(request: try reader.readUInt64())
        case 13:
            let request = try reader.readUInt64()
            let map = try ShardMap.decode(from: &reader)
            let count = Int(try reader.readUInt32())
            guard count <= MultiRaftLogStore.groupsMax else { throw .invalid("\(count) leaders in a map reply") }
            var leaders: [ShardLeader] = []
            for _ in 0..<count {
                let shard = ShardID(try reader.readUInt32())
                leaders.append(ShardLeader(shard: shard, leader: NodeID(try reader.readUInt32())))
            }
            message = .mapReply(request: request, map, leaders: leaders)
        case 14:
            let request = try reader.readUInt64()
            let shard = ShardID(try reader.readUInt32())
            let start = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let end = try reader.readOptionalBytes(maximumCount: TransactionLimits.keyBytesMax)
            message = .fetch(request: request, shard: shard, start: start, end: end, limit: Int(try reader.readUInt32()))
        case let tag:
            throw .invalid("unknown shard message \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a shard message") }
        return (message, clock)
    }
}
