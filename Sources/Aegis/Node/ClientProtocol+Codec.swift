/// Wire form of the client protocol: a tag byte ('Q' request, 'A' answer), then fields.
extension ClientRequest {
    public static let wireTag: UInt8 = 0x51

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.write(ClientRequest.wireTag)
        writer.write(clientID)
        writer.write(sequence)
        KVCodec.encode(operation, into: &writer)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ClientRequest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a client request") }
        let clientID = try reader.readUInt64()
        let sequence = try reader.readUInt64()
        let operation = try KVCodec.decodeOperation(from: &reader)
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a client request") }
        return ClientRequest(clientID: clientID, sequence: sequence, operation: operation)
    }
}

extension ClientResponse {
    public static let wireTag: UInt8 = 0x41

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.write(ClientResponse.wireTag)
        writer.write(clientID)
        writer.write(sequence)
        switch outcome {
        case let .ok(result):
            writer.write(UInt8(1))
            KVCodec.encode(result, into: &writer)
        case let .redirect(leader):
            writer.write(UInt8(2))
            writer.write(leader?.rawValue ?? 0)
        case let .unavailable(reason):
            writer.write(UInt8(3))
            writer.write(reason)
        case let .unknown(reason):
            writer.write(UInt8(4))
            writer.write(reason)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ClientResponse {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == wireTag else { throw .invalid("not a client response") }
        let clientID = try reader.readUInt64()
        let sequence = try reader.readUInt64()
        let outcome: Outcome
        switch try reader.readUInt8() {
        case 1: outcome = .ok(try KVCodec.decodeResult(from: &reader))
        case 2:
            let leader = try reader.readUInt32()
            outcome = .redirect(leader: leader == 0 ? nil : NodeID(leader))
        case 3: outcome = .unavailable(try reader.readString(maximumCount: KVLimits.reasonBytesMax))
        case 4: outcome = .unknown(try reader.readString(maximumCount: KVLimits.reasonBytesMax))
        case let tag: throw .invalid("unknown response outcome \(tag)")
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a client response") }
        return ClientResponse(clientID: clientID, sequence: sequence, outcome: outcome)
    }
}

/// Operations, results and log commands.
enum KVCodec {
    static func encode(_ operation: KVOperation, into writer: inout ByteWriter) {
        switch operation {
        case let .get(key):
            writer.write(UInt8(1))
            writer.write(lengthPrefixed: key)
        case let .put(key, value):
            writer.write(UInt8(2))
            writer.write(lengthPrefixed: key)
            writer.write(lengthPrefixed: value)
        case let .delete(key):
            writer.write(UInt8(3))
            writer.write(lengthPrefixed: key)
        case let .compareAndSet(key, expected, new):
            writer.write(UInt8(4))
            writer.write(lengthPrefixed: key)
            writeOptional(expected, into: &writer)
            writeOptional(new, into: &writer)
        case let .changeMembership(change):
            writer.write(UInt8(5))
            switch change {
            case let .addLearner(node): writer.write(UInt8(1)); writer.write(node.rawValue)
            case let .promote(node): writer.write(UInt8(2)); writer.write(node.rawValue)
            case let .remove(node): writer.write(UInt8(3)); writer.write(node.rawValue)
            }
        case let .transferLeadership(target):
            writer.write(UInt8(6))
            writer.write(target.rawValue)
        case .status:
            writer.write(UInt8(7))
        case let .scan(prefix, limit):
            writer.write(UInt8(8))
            writer.write(lengthPrefixed: prefix)
            writer.write(UInt32(clamping: limit))
        case let .sql(text, parameters, readOnly):
            writer.write(UInt8(9))
            writer.write(lengthPrefixed: Array(text.utf8))
            writer.write(lengthPrefixed: RowLayout.encode(parameters))
            writer.write(UInt8(readOnly ? 1 : 0))
        }
    }

    static func decodeOperation(from reader: inout ByteReader) throws(DecodeError) -> KVOperation {
        switch try reader.readUInt8() {
        case 1: return .get(key: try readKey(&reader))
        case 2: return .put(key: try readKey(&reader), value: try reader.readLengthPrefixed(maximumCount: KVLimits.valueBytesMax))
        case 3: return .delete(key: try readKey(&reader))
        case 4:
            let key = try readKey(&reader)
            let expected = try readOptional(&reader)
            let new = try readOptional(&reader)
            return .compareAndSet(key: key, expected: expected, new: new)
        case 5:
            let kind = try reader.readUInt8()
            let node = NodeID(try reader.readUInt32())
            switch kind {
            case 1: return .changeMembership(.addLearner(node))
            case 2: return .changeMembership(.promote(node))
            case 3: return .changeMembership(.remove(node))
            default: throw .invalid("unknown membership change \(kind)")
            }
        case 6: return .transferLeadership(to: NodeID(try reader.readUInt32()))
        case 7: return .status
        case 8:
            let prefix = try readKey(&reader)
            let limit = Int(try reader.readUInt32())
            guard (1...KVLimits.scanEntriesMax).contains(limit) else {
                throw .invalid("scan limit \(limit) outside 1...\(KVLimits.scanEntriesMax)")
            }
            return .scan(prefix: prefix, limit: limit)
        case 9:
            let text = String(decoding: try reader.readLengthPrefixed(maximumCount: KVLimits.sqlTextBytesMax), as: UTF8.self)
            let parameterBytes = try reader.readLengthPrefixed(maximumCount: KVLimits.sqlTextBytesMax)
            guard let parameters = try? RowLayout.decode(parameterBytes), parameters.count <= KVLimits.sqlParametersMax else {
                throw .invalid("malformed SQL parameters")
            }
            return .sql(text: text, parameters: parameters, readOnly: try reader.readUInt8() != 0)
        case let tag: throw .invalid("unknown operation \(tag)")
        }
    }

    static func encode(_ result: KVResult, into writer: inout ByteWriter) {
        switch result {
        case let .value(value):
            writer.write(UInt8(1))
            writeOptional(value, into: &writer)
        case .written:
            writer.write(UInt8(2))
        case let .deleted(existed):
            writer.write(UInt8(3))
            writer.write(UInt8(existed ? 1 : 0))
        case let .compareAndSet(succeeded, current):
            writer.write(UInt8(4))
            writer.write(UInt8(succeeded ? 1 : 0))
            writeOptional(current, into: &writer)
        case .membershipChanged:
            writer.write(UInt8(5))
        case .transferStarted:
            writer.write(UInt8(6))
        case .sessionExpired:
            writer.write(UInt8(7))
        case let .status(status):
            writer.write(UInt8(8))
            writer.write(status.leader.rawValue)
            writer.write(status.term.rawValue)
            writer.write(status.commitIndex.rawValue)
            status.configuration.encode(into: &writer)
        case let .entries(pairs, matched):
            writer.write(UInt8(9))
            writer.write(UInt32(pairs.count))
            for pair in pairs {
                writer.write(lengthPrefixed: pair.key)
                writer.write(lengthPrefixed: pair.value)
            }
            writer.write(UInt64(matched))
        case let .sql(results, error):
            writer.write(UInt8(10))
            writer.write(UInt32(results.count))
            for result in results {
                writer.write(UInt32(result.columns.count))
                for column in result.columns { writer.write(lengthPrefixed: Array(column.utf8)) }
                writer.write(UInt32(result.rows.count))
                for row in result.rows { writer.write(lengthPrefixed: RowLayout.encode(row)) }
                writer.write(UInt64(result.rowsAffected))
            }
            writeOptional(error.map { Array($0.utf8) }, into: &writer)
        }
    }

    static func decodeResult(from reader: inout ByteReader) throws(DecodeError) -> KVResult {
        switch try reader.readUInt8() {
        case 1: return .value(try readOptional(&reader))
        case 2: return .written
        case 3: return .deleted(existed: try reader.readUInt8() != 0)
        case 4:
            let succeeded = try reader.readUInt8() != 0
            return .compareAndSet(succeeded: succeeded, current: try readOptional(&reader))
        case 5: return .membershipChanged
        case 6: return .transferStarted
        case 7: return .sessionExpired
        case 8:
            let leader = NodeID(try reader.readUInt32())
            let term = Term(try reader.readUInt64())
            let commit = LogIndex(try reader.readUInt64())
            let configuration = try ClusterConfiguration.decode(from: &reader)
            return .status(ClusterStatus(leader: leader, term: term, commitIndex: commit, configuration: configuration))
        case 9:
            let count = Int(try reader.readUInt32())
            guard count <= KVLimits.scanEntriesMax else { throw .invalid("\(count) scan entries, above \(KVLimits.scanEntriesMax)") }
            var pairs: [KVPair] = []
            pairs.reserveCapacity(count)
            for _ in 0..<count {
                let key = try readKey(&reader)
                pairs.append(KVPair(key: key, value: try reader.readLengthPrefixed(maximumCount: KVLimits.valueBytesMax)))
            }
            let matched = try reader.readUInt64()
            guard matched >= UInt64(count), matched <= UInt64(Int.max) else { throw .invalid("a scan matched \(matched) keys but returned \(count)") }
            return .entries(pairs, matched: Int(matched))
        case 10:
            let count = Int(try reader.readUInt32())
            guard count <= KVLimits.sqlReplyBytesMax else { throw .invalid("\(count) SQL results") }
            var results: [QueryResult] = []
            for _ in 0..<count {
                var result = QueryResult()
                let columns = Int(try reader.readUInt32())
                guard columns <= KVLimits.sqlReplyBytesMax else { throw .invalid("\(columns) SQL columns") }
                for _ in 0..<columns {
                    result.columns.append(String(decoding: try reader.readLengthPrefixed(maximumCount: KVLimits.sqlReplyBytesMax), as: UTF8.self))
                }
                let rows = Int(try reader.readUInt32())
                guard rows <= KVLimits.sqlReplyBytesMax else { throw .invalid("\(rows) SQL rows") }
                for _ in 0..<rows {
                    guard let row = try? RowLayout.decode(try reader.readLengthPrefixed(maximumCount: KVLimits.sqlReplyBytesMax)) else {
                        throw .invalid("a malformed SQL row")
                    }
                    result.rows.append(row)
                }
                result.rowsAffected = Int(clamping: try reader.readUInt64())
                results.append(result)
            }
            let error = try readOptional(&reader, maximumCount: KVLimits.sqlReplyBytesMax).map { String(decoding: $0, as: UTF8.self) }
            return .sql(results, error: error)
        case let tag: throw .invalid("unknown result \(tag)")
        }
    }

    private static func readKey(_ reader: inout ByteReader) throws(DecodeError) -> [UInt8] {
        try reader.readLengthPrefixed(maximumCount: KVLimits.keyBytesMax)
    }

    private static func writeOptional(_ bytes: [UInt8]?, into writer: inout ByteWriter) {
        if let bytes {
            writer.write(UInt8(1))
            writer.write(lengthPrefixed: bytes)
        } else {
            writer.write(UInt8(0))
        }
    }

    private static func readOptional(_ reader: inout ByteReader, maximumCount: Int = KVLimits.valueBytesMax) throws(DecodeError) -> [UInt8]? {
        switch try reader.readUInt8() {
        case 0: return nil
        case 1: return try reader.readLengthPrefixed(maximumCount: maximumCount)
        case let flag: throw .invalid("optional flag \(flag)")
        }
    }
}
