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
            .transferLeadership(to: NodeID(2)), .status,
        ]
        for operation in operations {
            let request = ClientRequest(clientID: 3, sequence: 9, operation: operation)
            #expect(try ClientRequest.decode(request.encoded) == request)
        }
        let outcomes: [ClientResponse.Outcome] = [
            .ok(.value(nil)), .ok(.compareAndSet(succeeded: false, current: [1])), .redirect(leader: NodeID(2)),
            .redirect(leader: nil), .unavailable("busy"), .unknown("stopped leading"),
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
