import Aegis
import NIOConcurrencyHelpers
import NIOCore

/// Removes the sharded store's request records (`RequestRecord`) older than
/// `RequestRecord.keptMilliseconds`, so a client id costs one key for a while, not
/// forever. Every node sweeps now and then (every `period`, jittered); each removal is
/// conditioned on the record it read, so a record rewritten meanwhile — or removed by
/// another node's sweep — stays as it is.
final class RequestRecordSweeper: Sendable {
    static let period = TimeAmount.minutes(5)
    /// Records removed in one transaction (two operations each).
    static let batchRecords = 100

    let host: ShardHost
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    init(host: ShardHost) { self.host = host }

    func start() {
        let sweeping = Task { [host] in
            while !Task.isCancelled {
                let jitter = UInt64.random(in: 0...UInt64(RequestRecordSweeper.period.nanoseconds / 2))
                try? await Task.sleep(nanoseconds: UInt64(RequestRecordSweeper.period.nanoseconds) + jitter)
                if Task.isCancelled { return }
                _ = try? await RequestRecordSweeper.sweep(host, nowMilliseconds: Timestamp.nowMilliseconds())
            }
        }
        task.withLockedValue { $0 = sweeping }
    }

    func stop() {
        task.withLockedValue { $0?.cancel() }
    }

    /// One sweep: reads every record from the shards' leaders and removes the expired
    /// ones. Returns how many it removed.
    static func sweep(_ host: ShardHost, nowMilliseconds: Int64, timeout: TimeAmount = .seconds(10)) async throws -> Int {
        let span = RequestRecord.span
        var start = span.start
        var expired: [(key: [UInt8], value: [UInt8])] = []
        while true {
            let outcome = try await host.call(.read(start: start, end: span.end, limit: ShardSQLCall.readLimit), timeout: timeout).get()
            guard case let .read(entries, coveredEnd) = outcome else { throw ShardHost.unexpected(outcome) }
            for entry in entries where span.contains(entry.key) && RequestRecord.expired(entry.value, nowMilliseconds: nowMilliseconds) {
                expired.append((entry.key, entry.value))
            }
            guard let stop = coveredEnd, let end = span.end, stop.lexicographicallyPrecedes(end), start.lexicographicallyPrecedes(stop) else { break }
            start = stop
        }
        var removed = 0
        var index = 0
        while index < expired.count {
            let batch = expired[index..<min(index + batchRecords, expired.count)]
            index += batch.count
            let operations = batch.flatMap { record -> [TransactionOperation] in
                [.expect(key: record.key, value: record.value), .delete(key: record.key)]
            }
            if case .committed = try await host.transaction(operations, timeout: timeout) { removed += batch.count }
        }
        return removed
    }
}
