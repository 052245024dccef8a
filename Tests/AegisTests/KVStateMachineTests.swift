import Testing
@testable import Aegis

@Suite struct KVStateMachineTests {
    private func entry(_ index: UInt64, client: UInt64, sequence: UInt64, _ operation: KVOperation) -> LogEntry {
        LogEntry(index: LogIndex(index), term: Term(1), kind: .command,
            data: ClientRequest(clientID: client, sequence: sequence, operation: operation).encoded)
    }

    private let key = Array("k".utf8)

    @Test func operationsDoWhatTheySay() {
        let machine = KVStateMachine()
        #expect(machine.apply(entry(1, client: 1, sequence: 1, .put(key: key, value: [1])))?.result == .written)
        #expect(machine.read(key) == [1])
        #expect(machine.apply(entry(2, client: 1, sequence: 2, .compareAndSet(key: key, expected: [9], new: [2])))?.result
            == .compareAndSet(succeeded: false, current: [1]))
        #expect(machine.apply(entry(3, client: 1, sequence: 3, .compareAndSet(key: key, expected: [1], new: [2])))?.result
            == .compareAndSet(succeeded: true, current: [2]))
        #expect(machine.apply(entry(4, client: 1, sequence: 4, .delete(key: key)))?.result == .deleted(existed: true))
        #expect(machine.read(key) == nil)
        #expect(machine.apply(entry(5, client: 1, sequence: 5, .compareAndSet(key: key, expected: nil, new: [3])))?.result
            == .compareAndSet(succeeded: true, current: [3]))
    }

    @Test func scansReturnKeysInOrderWithinTheirBounds() throws {
        let machine = KVStateMachine()
        for (index, name) in ["b2", "a", "b10", "b1", "c", "b"].enumerated() {
            machine.apply(entry(UInt64(index + 1), client: 1, sequence: UInt64(index + 1), .put(key: Array(name.utf8), value: [UInt8(index)])))
        }
        func keys(_ result: KVResult) -> [String] {
            guard case let .entries(pairs, _) = result else { return [] }
            return pairs.map { String(decoding: $0.key, as: UTF8.self) }
        }
        #expect(keys(machine.scan(prefix: Array("b".utf8), limit: 10)) == ["b", "b1", "b10", "b2"])
        #expect(machine.scan(prefix: Array("b".utf8), limit: 2) == .entries([KVPair(key: Array("b".utf8), value: [5]), KVPair(key: Array("b1".utf8), value: [3])], matched: 4))
        #expect(keys(machine.scan(prefix: [], limit: 1000)) == ["a", "b", "b1", "b10", "b2", "c"])
        #expect(machine.scan(prefix: Array("z".utf8), limit: 5) == .entries([], matched: 0))
        // A reply stops early rather than outgrow one network message.
        let big = [UInt8](repeating: 1, count: 200_000)
        for index in 0..<4 {
            machine.apply(entry(UInt64(7 + index), client: 1, sequence: UInt64(7 + index), .put(key: Array("big\(index)".utf8), value: big)))
        }
        guard case let .entries(pairs, matched) = machine.scan(prefix: Array("big".utf8), limit: 10) else { Issue.record("not entries"); return }
        #expect(matched == 4 && pairs.count == 2)
        #expect(ClientResponse(clientID: 1, sequence: 1, outcome: .ok(.entries(pairs, matched: matched))).encoded.count <= networkMessageSizeMax)
        // A scan limit outside 1...1000 is refused on the wire.
        var writer = ByteWriter()
        writer.write(ClientRequest.wireTag)
        writer.write(UInt64(1))
        writer.write(UInt64(1))
        writer.write(UInt8(8))
        writer.write(lengthPrefixed: [])
        writer.write(UInt32(5000))
        #expect(throws: DecodeError.self) { try ClientRequest.decode(writer.bytes) }
    }

    @Test func aRetriedWriteTakesEffectOnce() {
        let machine = KVStateMachine()
        let first = machine.apply(entry(1, client: 7, sequence: 1, .put(key: key, value: [1])))
        machine.apply(entry(2, client: 8, sequence: 1, .put(key: key, value: [2])))
        // Client 7's retry of sequence 1 lands later in the log: no effect, same answer.
        let retry = machine.apply(entry(3, client: 7, sequence: 1, .put(key: key, value: [1])))
        #expect(first?.tookEffect == true)
        #expect(retry?.tookEffect == false)
        #expect(retry?.result == .written)
        #expect(machine.read(key) == [2])
        #expect(machine.sessionResult(clientID: 7, sequence: 1) == .written)
    }

    @Test func anEvictedSessionRefusesOldRetriesInsteadOfApplyingThemTwice() {
        let machine = KVStateMachine(sessionsMax: 2)
        machine.apply(entry(1, client: 1, sequence: 1, .put(key: key, value: [1])))
        machine.apply(entry(2, client: 1, sequence: 2, .put(key: key, value: [2])))
        machine.apply(entry(3, client: 2, sequence: 1, .put(key: key, value: [3])))
        machine.apply(entry(4, client: 3, sequence: 1, .put(key: key, value: [4])))
        // Client 1's session was the least recently used and is gone; its old retry:
        let retry = machine.apply(entry(5, client: 1, sequence: 2, .put(key: key, value: [2])))
        #expect(retry?.result == .sessionExpired && retry?.tookEffect == false)
        #expect(machine.read(key) == [4])
    }

    @Test func aSnapshotRestoresTheSameStateAndDigest() throws {
        let machine = KVStateMachine()
        for index in 1...50 {
            machine.apply(entry(UInt64(index), client: UInt64(index % 4), sequence: UInt64(index),
                .put(key: Array("key-\(index % 7)".utf8), value: Array("\(index)".utf8))))
        }
        let image = machine.snapshot()
        let copy = KVStateMachine()
        try copy.restore(image, at: machine.appliedIndex)
        #expect(copy.digest == machine.digest)
        #expect(copy.snapshot() == image)
        #expect(throws: DecodeError.self) { try copy.restore(image, at: LogIndex(3)) }
        #expect(throws: DecodeError.self) { try copy.restore(Array(image.dropLast()), at: machine.appliedIndex) }
    }
}

@Suite struct WireFormatTests {
    @Test func raftMessagesRoundTrip() throws {
        let entries = [LogEntry(index: LogIndex(5), term: Term(2), kind: .command, data: [1, 2, 3]),
                       LogEntry(index: LogIndex(6), term: Term(3), kind: .configuration, data: [])]
        let configuration = ClusterConfiguration(voters: [NodeID(1), NodeID(2)], learners: [NodeID(3)])
        let bodies: [RaftMessage.Body] = [
            .preVote(lastIndex: LogIndex(4), lastTerm: Term(2)),
            .preVoteResponse(granted: true),
            .vote(lastIndex: LogIndex(4), lastTerm: Term(2), transfer: true),
            .voteResponse(granted: false),
            .append(prevIndex: LogIndex(4), prevTerm: Term(2), entries: entries, commit: LogIndex(3), leaderLastIndex: LogIndex(6)),
            .appendResponse(success: false, index: LogIndex(4), hint: LogIndex(2), logLost: true),
            .heartbeat(commit: LogIndex(3), context: 99),
            .heartbeatResponse(context: 99),
            .snapshotChunk(metadata: SnapshotMetadata(index: LogIndex(9), term: Term(2), configuration: configuration),
                totalBytes: 10, checksum: 77, offset: 4, chunk: [9, 9]),
            .snapshotChunkResponse(index: LogIndex(9), nextOffset: 6),
            .timeoutNow,
        ]
        for body in bodies {
            let message = RaftMessage(from: NodeID(1), to: NodeID(2), term: Term(7), body: body)
            #expect(try RaftMessage.decode(message.encoded) == message)
        }
    }

    @Test func clientMessagesRoundTrip() throws {
        let operations: [KVOperation] = [
            .get(key: [1]), .put(key: [1], value: [2]), .delete(key: [3]),
            .compareAndSet(key: [1], expected: nil, new: [4]), .changeMembership(.promote(NodeID(4))),
            .transferLeadership(to: NodeID(2)), .status, .scan(prefix: [7], limit: 10), .scan(prefix: [], limit: 1000),
        ]
        for operation in operations {
            let request = ClientRequest(clientID: 3, sequence: 9, operation: operation)
            #expect(try ClientRequest.decode(request.encoded) == request)
        }
        let outcomes: [ClientResponse.Outcome] = [
            .ok(.value(nil)), .ok(.compareAndSet(succeeded: false, current: [1])), .redirect(leader: NodeID(2)),
            .redirect(leader: nil), .unavailable("busy"), .unknown("stopped leading"),
            .ok(.entries([KVPair(key: [1], value: [2]), KVPair(key: [1, 5], value: [])], matched: 9)), .ok(.entries([], matched: 0)),
            .ok(.status(ClusterStatus(leader: NodeID(1), term: Term(3), commitIndex: LogIndex(8),
                configuration: ClusterConfiguration(voters: [NodeID(1)])))),
        ]
        for outcome in outcomes {
            let response = ClientResponse(clientID: 3, sequence: 9, outcome: outcome)
            #expect(try ClientResponse.decode(response.encoded) == response)
        }
    }

    /// Bytes from the network never crash a node: every truncation and a sweep of
    /// single-byte changes of valid messages decode or throw, nothing else.
    @Test func malformedBytesAreErrorsNotCrashes() {
        let message = RaftMessage(from: NodeID(1), to: NodeID(2), term: Term(7),
            body: .append(prevIndex: LogIndex(4), prevTerm: Term(2),
                entries: [LogEntry(index: LogIndex(5), term: Term(2), kind: .command, data: [1, 2, 3])],
                commit: LogIndex(3), leaderLastIndex: LogIndex(5)))
        let bytes = message.encoded
        for length in 0..<bytes.count {
            #expect(throws: DecodeError.self) { try RaftMessage.decode(Array(bytes.prefix(length))) }
        }
        let random = TestEntropy(seed: 5)
        for _ in 0..<2000 {
            var damaged = bytes
            damaged[Int(random.uniform(below: UInt64(bytes.count)))] = UInt8(truncatingIfNeeded: random.nextUInt64())
            _ = try? RaftMessage.decode(damaged)
            _ = try? ClientRequest.decode(damaged)
        }
    }
}
