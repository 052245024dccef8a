@testable import Aegis
import Testing

/// SQL on the sharded store, with the shards played by a model (`ModelShards`: sorted
/// data, a map, reads cut at shard ends and at a limit, and commits that check every
/// `expectRange` before writing): the read-through runs, the commit's reads and writes,
/// and serializability when two requests interleave.
@Suite struct ShardSQLCallTests {
    /// A counter-based generator: the calls only draw backoff pauses from it.
    final class CountingEntropy: Entropy {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func nextUInt64() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            return StableHash64.avalanche(state)
        }
    }

    /// The shards as a model: what a commit checks and writes, what a read returns.
    final class ModelShards {
        var data: [[UInt8]: [UInt8]] = [:]
        let map: ShardMap
        var readLimit = 3
        var entriesRead = 0
        var commits = 0
        var refusedCommits = 0
        /// The next commit that applies answers `timeout`, as if its answer were lost.
        var loseNextCommitAnswer = false

        init(splitKeys: [[UInt8]]) {
            map = ShardLayout(nodes: [NodeID(1)], splitKeys: splitKeys, replicationFactor: 1).initialMap
        }

        private func sortedKeys(in span: KeySpan) -> [[UInt8]] {
            data.keys.filter { span.contains($0) }.sorted { $0.lexicographicallyPrecedes($1) }
        }

        func read(start: [UInt8], end: [UInt8]?) -> ShardSQLCall.Event {
            let shardEnd = map.shard(for: start).range.end
            let until = KeySpans.minEnd(end, shardEnd)
            let keys = sortedKeys(in: KeySpan(start: start, end: until))
            let taken = keys.prefix(readLimit)
            entriesRead += taken.count
            let covered = keys.count > readLimit ? taken.last! + [0] : until
            return .read(taken.map { ScannedEntry(key: $0, value: data[$0]!, timestamp: .zero) }, coveredEnd: covered)
        }

        func commit(_ operations: [TransactionOperation]) -> ShardSQLCall.Event {
            commits += 1
            for operation in operations {
                guard case let .expectRange(start, end, count, digest) = operation else { continue }
                let span = KeySpan(start: start, end: end)
                if let shardEnd = map.shard(for: start).range.end, KeySpans.endsAfter(end, shardEnd) { return .aborted(.staleMap(shard: ShardID(1))) }
                let found = RangeDigest.of(sortedKeys(in: span).map { ($0, data[$0]!) })
                guard found.count == count, found.digest == digest else {
                    refusedCommits += 1
                    return .aborted(.condition(key: start, current: nil))
                }
            }
            for operation in operations {
                switch operation {
                case let .put(key, value): data[key] = value
                case let .delete(key): data[key] = nil
                default: break
                }
            }
            if loseNextCommitAnswer {
                loseNextCommitAnswer = false
                return .aborted(.timeout)
            }
            return .committed
        }

        /// Answers one action; nil when the call finished.
        func step(_ call: ShardSQLCall) -> ShardSQLOutcome? {
            switch call.next() {
            case let .read(start, end): call.handle(read(start: start, end: end))
            case let .commit(operations): call.handle(commit(operations))
            case .fetchMap: call.handle(.map(map))
            case .pause: break
            case let .finished(outcome): return outcome
            }
            return nil
        }

        func run(_ text: String, _ parameters: [SQLValue] = [], request: TransactionID? = nil) -> ShardSQLOutcome {
            let call = ShardSQLCall(text: text, parameters: parameters, entropy: CountingEntropy(), request: request, nowMilliseconds: 1_000)
            for _ in 0..<10_000 {
                if let outcome = step(call) { return outcome }
            }
            Issue.record("the call never finished")
            return ShardSQLOutcome(results: [], error: "never finished")
        }
    }

    static let setup = "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)); "
        + "INSERT INTO accounts VALUES " + (1...8).map { "(\($0), 100)" }.joined(separator: ", ")
    static let transfer = "BEGIN; UPDATE accounts SET balance = balance + $3 WHERE id = $2; "
        + "UPDATE accounts SET balance = balance - $3 WHERE id = $1; COMMIT"
    static let sum = "SELECT sum(balance), count(*) FROM accounts"

    /// Split points inside the table's rows, so a table scan spans three shards.
    static func rowSplitShards() -> ModelShards {
        let shards = ModelShards(splitKeys: [])
        _ = shards.run(setup)
        let rows = shards.data.keys.filter { $0.first == 0x02 }.sorted { $0.lexicographicallyPrecedes($1) }
        let split = ModelShards(splitKeys: [rows[3], rows[6]])
        split.data = shards.data
        return split
    }

    @Test func statementsRunOnReadsAndCommitWhatTheyWrote() {
        let shards = ModelShards(splitKeys: [[0x02], [0x03]])
        let created = shards.run(ShardSQLCallTests.setup)
        #expect(created.error == nil, "\(created.error ?? "")")
        #expect(shards.data.keys.contains([0x01]), "the catalog is stored on the shards")
        #expect(shards.data.keys.filter { $0.first == 0x02 }.count == 8, "one key per row")
        let sum = shards.run(ShardSQLCallTests.sum)
        #expect(sum.error == nil)
        #expect(sum.results.last?.rows == [[.integer(800), .integer(8)]])
        let answer = shards.run("SELECT 1 + 1")
        #expect(answer.results.last?.rows == [[.integer(2)]], "a request that reads nothing commits nothing")
    }

    @Test func aRefusedTransferWritesNothingAndReportsTheError() {
        let shards = ShardSQLCallTests.rowSplitShards()
        let before = shards.data
        let refused = shards.run(ShardSQLCallTests.transfer, [.integer(1), .integer(2), .integer(500)])
        #expect(refused.error?.contains("CHECK") == true, "\(refused.error ?? "no error")")
        #expect(shards.data == before, "the credit of the rolled-back transaction is not written")
        let done = shards.run(ShardSQLCallTests.transfer, [.integer(1), .integer(8), .integer(60)])
        #expect(done.error == nil)
        #expect(shards.run(ShardSQLCallTests.sum).results.last?.rows == [[.integer(800), .integer(8)]])
        #expect(shards.run("SELECT balance FROM accounts WHERE id IN (1, 8) ORDER BY id").results.last?.rows
            == [[.integer(40)], [.integer(160)]])
    }

    /// Two transfers out of the same account interleave: each reads it before the other
    /// commits. The second commit finds its read stale, runs again on fresh reads, and
    /// the payer is never overdrawn: the outcome is that of some serial order.
    @Test func interleavedRequestsCommitAsIfOneAfterTheOther() {
        let shards = ShardSQLCallTests.rowSplitShards()
        let first = ShardSQLCall(text: ShardSQLCallTests.transfer, parameters: [.integer(1), .integer(2), .integer(70)], entropy: CountingEntropy())
        let second = ShardSQLCall(text: ShardSQLCallTests.transfer, parameters: [.integer(1), .integer(3), .integer(70)], entropy: CountingEntropy())
        // Drive both until each is about to commit.
        var pending: [ShardSQLCall: [TransactionOperation]] = [:]
        for call in [first, second] {
            while pending[call] == nil {
                switch call.next() {
                case let .read(start, end): call.handle(shards.read(start: start, end: end))
                case .fetchMap: call.handle(.map(shards.map))
                case let .commit(operations): pending[call] = operations
                case .pause, .finished: Issue.record("a transfer ended before its commit")
                }
            }
        }
        first.handle(shards.commit(pending[first]!))
        second.handle(shards.commit(pending[second]!))
        #expect(shards.refusedCommits == 1, "the second commit's read of account 1 went stale")
        var outcome: ShardSQLOutcome?
        while outcome == nil { outcome = shards.step(second) }
        #expect(outcome?.error?.contains("CHECK") == true, "run again on fresh reads, the second transfer overdraws account 1: \(outcome?.error ?? "no error")")
        #expect(second.runs >= 2)
        #expect(shards.run(ShardSQLCallTests.sum).results.last?.rows == [[.integer(800), .integer(8)]])
        #expect(shards.run("SELECT balance FROM accounts WHERE id = 1").results.last?.rows == [[.integer(30)]])
    }

    /// A planted bug: a commit that checks no reads (no expectRange) lets the interleaved
    /// transfers both take 70 from 100, and money is made. The test above would fail.
    @Test func withoutItsReadChecksTheSameInterleavingOverdraws() {
        let shards = ShardSQLCallTests.rowSplitShards()
        let calls = [
            ShardSQLCall(text: ShardSQLCallTests.transfer, parameters: [.integer(1), .integer(2), .integer(70)], entropy: CountingEntropy()),
            ShardSQLCall(text: ShardSQLCallTests.transfer, parameters: [.integer(1), .integer(3), .integer(70)], entropy: CountingEntropy()),
        ]
        var pending: [[TransactionOperation]] = [[], []]
        for (index, call) in calls.enumerated() {
            while pending[index].isEmpty {
                switch call.next() {
                case let .read(start, end): call.handle(shards.read(start: start, end: end))
                case .fetchMap: call.handle(.map(shards.map))
                case let .commit(operations): pending[index] = operations.filter { $0.range == nil }
                case .pause, .finished: Issue.record("a transfer ended before its commit")
                }
            }
        }
        for (index, call) in calls.enumerated() { call.handle(shards.commit(pending[index])) }
        let total = shards.run(ShardSQLCallTests.sum).results.last?.rows.first?.first
        #expect(total == .integer(870), "without the checks, the lost update shows: \(String(describing: total))")
    }

    @Test func aRequestTooLargeForOneTransactionIsRefusedClearly() {
        let shards = ModelShards(splitKeys: [])
        _ = shards.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let rows = (1...300).map { "(\($0), 'x')" }.joined(separator: ", ")
        let outcome = shards.run("INSERT INTO t VALUES " + rows)
        #expect(outcome.error?.contains("limit error") == true && outcome.error?.contains("split it") == true, "\(outcome.error ?? "no error")")
        #expect(shards.run("SELECT count(*) FROM t").results.last?.rows == [[.integer(0)]])
    }

    /// Sequential keys inserted into a hash-partitioned table land in every bucket; the
    /// existence checks of one INSERT must read near those keys in each bucket, not
    /// the whole table from the first bucket's key to the last's.
    @Test func anInsertIntoAHashedTableReadsNearItsKeysOnly() {
        let shards = ModelShards(splitKeys: [])
        _ = shards.run("CREATE TABLE t (id INTEGER PRIMARY KEY USING HASH WITH (bucket_count = 8), v TEXT)")
        for batch in 0..<8 {
            let rows = (1...50).map { "(\(batch * 50 + $0), 'x')" }.joined(separator: ", ")
            let outcome = shards.run("INSERT INTO t VALUES " + rows)
            #expect(outcome.error == nil, "\(outcome.error ?? "")")
        }
        #expect(shards.run("SELECT count(*) FROM t").results.last?.rows == [[.integer(400)]])
        shards.entriesRead = 0
        let outcome = shards.run("INSERT INTO t VALUES " + (401...420).map { "(\($0), 'y')" }.joined(separator: ", "))
        #expect(outcome.error == nil, "\(outcome.error ?? "")")
        #expect(shards.entriesRead <= 40, "the insert read \(shards.entriesRead) entries of a 400-row table")
        #expect(shards.run("SELECT count(*) FROM t").results.last?.rows == [[.integer(420)]])
    }

    /// A request with an identity applies once: sent again it replays its answer, an
    /// older sequence of the client is refused, and a commit whose answer was lost (the
    /// call tries again) is found applied by its record instead of applying twice.
    @Test func aRequestWithAnIdentityAppliesOnce() {
        let shards = ModelShards(splitKeys: [[0x02], [0x03], [0x06]])
        _ = shards.run(ShardSQLCallTests.setup)
        let deposit = "UPDATE accounts SET balance = balance + 10 WHERE id = 1"
        let balance = "SELECT balance FROM accounts WHERE id = 1"
        let first = shards.run(deposit, request: TransactionID(client: 7, sequence: 1))
        #expect(first.error == nil && first.results.last?.rowsAffected == 1, "\(first)")
        let again = shards.run(deposit, request: TransactionID(client: 7, sequence: 1))
        #expect(again == first, "the retry replays the answer: \(again)")
        #expect(shards.run(balance).results.last?.rows == [[.integer(110)]])
        let older = shards.run(deposit, request: TransactionID(client: 7, sequence: 0))
        #expect(older.error?.contains("already applied") == true, "\(older)")

        shards.loseNextCommitAnswer = true
        let lost = shards.run(deposit, request: TransactionID(client: 7, sequence: 2))
        #expect(lost.error == nil && lost.results.last?.rowsAffected == 1, "\(lost)")
        #expect(shards.run(balance).results.last?.rows == [[.integer(120)]], "applied once, its lost answer recovered from the record")
        #expect(shards.data.keys.filter { $0.first == RequestRecord.keyPrefix }.count == 1, "one record per client")
        let readOnly = shards.run(balance, request: TransactionID(client: 8, sequence: 1))
        #expect(readOnly.results.last?.rows == [[.integer(120)]])
        #expect(shards.data.keys.filter { $0.first == RequestRecord.keyPrefix }.count == 1, "a request that writes nothing keeps no record")
    }

    /// A retry that read its record before the first attempt applied, and the balances
    /// after: run on them, the transfer no longer fits the CHECK and writes nothing —
    /// but its commit re-checks the record, fails, and the retry replays the first
    /// attempt's answer instead of reporting a refusal of a transfer that happened.
    @Test func aRetryThatReadItsRecordTooEarlyStillReplays() {
        let shards = ModelShards(splitKeys: [[0x02], [0x03], [0x06]])
        _ = shards.run(ShardSQLCallTests.setup)
        let transfer = "BEGIN; UPDATE accounts SET balance = balance + 60 WHERE id = 2; "
            + "UPDATE accounts SET balance = balance - 60 WHERE id = 1; COMMIT"
        let identity = TransactionID(client: 9, sequence: 1)
        let retry = ShardSQLCall(text: transfer, parameters: [], entropy: CountingEntropy(), request: identity, nowMilliseconds: 1)
        #expect(shards.step(retry) == nil, "the retry reads its (absent) record first")
        let first = shards.run(transfer, request: identity)
        #expect(first.error == nil, "\(first)")
        var outcome: ShardSQLOutcome?
        for _ in 0..<1_000 where outcome == nil { outcome = shards.step(retry) }
        #expect(outcome == first && retry.replayed, "\(String(describing: outcome))")
        #expect(shards.run("SELECT balance FROM accounts WHERE id = 1").results.last?.rows == [[.integer(40)]])
    }

    /// The same lost answer without an identity: the call cannot tell it applied, runs
    /// again and deposits twice — what the record is there to prevent.
    @Test func withoutAnIdentityALostAnswerAppliesTwice() {
        let shards = ModelShards(splitKeys: [[0x02], [0x03]])
        _ = shards.run(ShardSQLCallTests.setup)
        shards.loseNextCommitAnswer = true
        _ = shards.run("UPDATE accounts SET balance = balance + 10 WHERE id = 1")
        #expect(shards.run("SELECT balance FROM accounts WHERE id = 1").results.last?.rows == [[.integer(120)]])
    }

    /// A record keeps its answer, but not a large answer's rows (a write's answer is
    /// its count); a damaged record counts as none, and may be swept.
    @Test func requestRecordsRoundTripAndStaySmall() throws {
        let small = RequestRecord(sequence: 3, writtenAtMilliseconds: 42, answer: .deleted(existed: true))
        #expect(try RequestRecord.decode(small.encoded()) == small)
        let rows = (0..<2_000).map { [SQLValue.integer(Int64($0)), .text("row \($0)")] }
        let large = RequestRecord(sequence: 4, writtenAtMilliseconds: 42, answer: .sql([QueryResult(columns: ["a", "b"], rows: rows, rowsAffected: 2_000)], error: nil))
        let encoded = large.encoded()
        #expect(encoded.count < RequestRecord.answerBytesMax)
        #expect(try RequestRecord.decode(encoded).answer == .sql([QueryResult(rowsAffected: 2_000)], error: nil))
        #expect(RequestRecord.verdict(stored: [9, 9, 9], sequence: 1) == .run)
        #expect(RequestRecord.expired([9, 9, 9], nowMilliseconds: 0))
        #expect(!RequestRecord.expired(small.encoded(), nowMilliseconds: 42 + RequestRecord.keptMilliseconds))
        #expect(RequestRecord.expired(small.encoded(), nowMilliseconds: 43 + RequestRecord.keptMilliseconds))
    }

    @Test func readCacheCoverage() {
        let cache = ShardReadCache()
        cache.insert([([2], [20]), ([3], [30])], covering: KeySpan(start: [1], end: [4]))
        cache.insert([([7], [70])], covering: KeySpan(start: [6], end: [8]))
        #expect(cache.uncovered(KeySpan(start: [2], end: [3])).isEmpty)
        #expect(cache.uncovered(KeySpan(start: [0], end: [9])) == [
            KeySpan(start: [0], end: [1]), KeySpan(start: [4], end: [6]), KeySpan(start: [8], end: [9]),
        ])
        #expect(cache.uncovered(KeySpan(start: [7], end: nil)) == [KeySpan(start: [8], end: nil)])
        cache.insert([([4], [40]), ([5], [50])], covering: KeySpan(start: [4], end: [6]))
        #expect(cache.covered == [KeySpan(start: [1], end: [8])], "touching spans merge")
        cache.insert([], covering: KeySpan(start: [2], end: [3]))
        #expect(cache.pairs(in: KeySpan(start: [1], end: [9])).map(\.key) == [[3], [4], [5], [7]], "a new read replaces the old")
        let map = ShardLayout(nodes: [NodeID(1)], splitKeys: [[3], [5]], replicationFactor: 1).initialMap
        #expect(KeySpans.cut(KeySpan(start: [1], end: [6]), by: map) == [
            KeySpan(start: [1], end: [3]), KeySpan(start: [3], end: [5]), KeySpan(start: [5], end: [6]),
        ])
        #expect(KeySpans.cut(KeySpan(start: [4], end: nil), by: map) == [KeySpan(start: [4], end: [5]), KeySpan(start: [5], end: nil)])
    }
}

extension ShardSQLCall: Hashable {
    public static func == (lhs: ShardSQLCall, rhs: ShardSQLCall) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
