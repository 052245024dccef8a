@testable import Aegis
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import Runtime

/// Request records on a one-node sharded store (a real `ShardHost` on a real disk):
/// a sweep removes the ones past their keeping time and leaves the fresh ones.
@Suite struct RequestRecordSweeperTests {
    @Test(.timeLimit(.minutes(1)))
    func aSweepRemovesOnlyExpiredRecords() async throws {
        let directory = TemporaryDirectory()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let configuration = ShardNode.Configuration(layout: ShardHost.layout(nodes: [NodeID(1)], shards: 2, replication: 1))
        let host = ShardHost(loop: group.next(), nodeID: NodeID(1), disk: try FileDisk(path: directory.path),
                             configuration: configuration, logger: Logger(label: "test")) { _, _ in }
        try await host.start().get()

        let now: Int64 = 10_000_000
        let old = RequestRecord(sequence: 1, writtenAtMilliseconds: now - RequestRecord.keptMilliseconds - 1, answer: .written)
        let fresh = RequestRecord(sequence: 4, writtenAtMilliseconds: now - 1_000, answer: .written)
        let records: [(client: UInt64, record: RequestRecord)] = [(1, old), (2, fresh), (3, old)]
        let writes = records.map { TransactionOperation.put(key: RequestRecord.key(client: $0.client), value: $0.record.encoded()) }
        // The groups elect their leaders first; until then a write may find none.
        var committed = false
        for _ in 0..<100 where !committed {
            if case .committed? = try? await host.transaction(writes, timeout: .seconds(2)) { committed = true } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(committed, "the records were never written")

        #expect(try await RequestRecordSweeper.sweep(host, nowMilliseconds: now) == 2)
        let reads = try await host.transaction(records.map { .get(key: RequestRecord.key(client: $0.client)) }, timeout: .seconds(5))
        guard case let .committed(_, values) = reads else { Issue.record("the read aborted: \(reads)"); return }
        let present = records.indices.map { index in values.first { $0.operation == index }?.value != nil }
        #expect(present == [false, true, false], "only the fresh record stays")
        #expect(try await RequestRecordSweeper.sweep(host, nowMilliseconds: now) == 0, "nothing left to sweep")
        try await host.stop().get()
        try await group.shutdownGracefully()
    }
}
