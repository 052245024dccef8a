import Foundation
import Testing
@testable import Aegis

/// The SQL engine's behaviour beyond single answers: transactions between sessions,
/// parameters and prepared statements, the memory budget, statement atomicity, and
/// replication's snapshot of the SQL tables (persistence on disk: RuntimeTests).
@Suite struct SQLEngineTests {
    func database(_ backend: any StorageBackend = MemoryBackend()) -> SQLDatabase {
        SQLDatabase(store: MVCCStore(backend: backend))
    }

    func value(_ session: SQLSession, _ sql: String, _ parameters: [SQLValue] = []) throws -> SQLValue? {
        try session.execute(sql, parameters: parameters).last?.rows.first?.first
    }

    @Test func transactionsIsolateUntilCommit() throws {
        let db = database()
        let a = db.session(), b = db.session()
        _ = try a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 10), (2, 20)")
        _ = try a.execute("BEGIN; UPDATE t SET v = 11 WHERE id = 1")
        #expect(try value(a, "SELECT v FROM t WHERE id = 1") == .integer(11), "a transaction sees its own write")
        #expect(try value(b, "SELECT v FROM t WHERE id = 1") == .integer(10), "another session does not see it before COMMIT")
        _ = try a.execute("COMMIT")
        #expect(try value(b, "SELECT v FROM t WHERE id = 1") == .integer(11))

        // A snapshot stays put while another session commits.
        _ = try b.execute("BEGIN")
        #expect(try value(b, "SELECT sum(v) FROM t") == .integer(31))
        _ = try a.execute("UPDATE t SET v = v + 100")
        #expect(try value(b, "SELECT sum(v) FROM t") == .integer(31), "a transaction keeps reading its snapshot")
        _ = try b.execute("ROLLBACK")
        #expect(try value(b, "SELECT sum(v) FROM t") == .integer(231))
    }

    @Test func schemaChangesAreSeenOnlyByTheSnapshotsTheyBelongTo() throws {
        let db = database()
        let a = db.session(), b = db.session()
        _ = try a.execute("BEGIN; CREATE TABLE x (id INTEGER PRIMARY KEY); INSERT INTO x VALUES (1)")
        #expect(try value(a, "SELECT count(*) FROM x") == .integer(1))
        #expect(throws: SQLError.self, "an uncommitted table is invisible to others") { try b.execute("SELECT * FROM x") }
        _ = try a.execute("COMMIT")
        #expect(try value(b, "SELECT count(*) FROM x") == .integer(1))

        _ = try b.execute("BEGIN; SELECT count(*) FROM x")
        _ = try a.execute("CREATE TABLE y (id INTEGER PRIMARY KEY); DROP TABLE x")
        #expect(try value(b, "SELECT count(*) FROM x") == .integer(1), "an older snapshot keeps its schema")
        #expect(throws: SQLError.self) { try b.execute("SELECT * FROM y") }
        _ = try b.execute("ROLLBACK")
        #expect(throws: SQLError.self) { try b.execute("SELECT * FROM x") }
        #expect(try value(b, "SELECT count(*) FROM y") == .integer(0))
    }

    @Test func concurrentWritersConflictAndTheLoserRollsBack() throws {
        let db = database()
        let a = db.session(), b = db.session()
        _ = try a.execute("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER); INSERT INTO acct VALUES (1, 100), (2, 100)")
        // Write skew: each reads both balances and withdraws from a different account.
        _ = try a.execute("BEGIN; SELECT sum(balance) FROM acct; UPDATE acct SET balance = balance - 150 WHERE id = 1")
        _ = try b.execute("BEGIN; SELECT sum(balance) FROM acct; UPDATE acct SET balance = balance - 150 WHERE id = 2")
        _ = try a.execute("COMMIT")
        #expect(throws: SQLError.self) { try b.execute("COMMIT") }
        #expect(!b.inTransaction, "the conflict ended the transaction")
        #expect(throws: SQLError.self, "there is no transaction left to COMMIT") { try b.execute("COMMIT") }
        #expect(try value(a, "SELECT sum(balance) FROM acct") == .integer(50), "only the first writer's transfer happened")
    }

    @Test func conflictErrorSaysToRetry() throws {
        let db = database()
        let a = db.session(), b = db.session()
        _ = try a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 1)")
        _ = try a.execute("BEGIN; UPDATE t SET v = 2")
        _ = try b.execute("BEGIN; UPDATE t SET v = 3")
        _ = try a.execute("COMMIT")
        do {
            _ = try b.execute("COMMIT")
            Issue.record("the second writer committed")
        } catch {
            #expect(error.kind == .conflict)
            #expect(error.message.contains("run it again"))
        }
    }

    @Test func aFailedStatementInsideATransactionIsUndoneAlone() throws {
        let session = database().session()
        _ = try session.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v < 10))")
        _ = try session.execute("BEGIN; INSERT INTO t VALUES (1, 1)")
        #expect(throws: SQLError.self) { try session.execute("INSERT INTO t VALUES (2, 2), (3, 30)") }
        _ = try session.execute("INSERT INTO t VALUES (4, 4); COMMIT")
        #expect(try session.execute("SELECT id FROM t ORDER BY id").last?.rows == [[.integer(1)], [.integer(4)]])
    }

    @Test func preparedStatementsTakeParametersAndSurviveSchemaChanges() throws {
        let session = database().session()
        _ = try session.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        let insert = try session.prepare("INSERT INTO t VALUES ($1, $2)")
        #expect(insert.parameterCount == 2)
        for id in 1...5 { _ = try session.execute(insert, parameters: [.integer(Int64(id)), .text("n\(id)")]) }
        let select = try session.prepare("SELECT name FROM t WHERE id = $1")
        #expect(try session.execute(select, parameters: [.integer(3)]).rows == [[.text("n3")]])
        _ = try session.execute("ALTER TABLE t RENAME COLUMN name TO label")
        #expect(throws: SQLError.self) { try session.execute(select, parameters: [.integer(3)]) }
        #expect(throws: SQLError.self) { try session.execute(insert, parameters: [.integer(9)]) }
    }

    @Test func theMemoryBudgetStopsAQueryWithAClearError() throws {
        let db = database()
        db.memoryBudgetBytes = 64 << 10
        let session = db.session()
        _ = try session.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
        let insert = try session.prepare("INSERT INTO t VALUES ($1, $2)")
        _ = try session.execute("BEGIN")
        for id in 1...2000 { _ = try session.execute(insert, parameters: [.integer(Int64(id)), .text(String(repeating: "x", count: 40))]) }
        _ = try session.execute("COMMIT")
        do {
            _ = try session.execute("SELECT pad FROM t ORDER BY pad DESC, id")
            Issue.record("a sort beyond the budget ran")
        } catch {
            #expect(error.kind == .limit)
            #expect(error.message.contains("memory budget"))
        }
        // Streaming work needs no budget.
        #expect(try value(session, "SELECT count(*) FROM t WHERE pad LIKE 'x%'") == .integer(2000))
    }

    @Test func replicasCarryTheirTablesThroughSnapshots() throws {
        let first = KVStateMachine()
        _ = first.readSQL("SELECT 1", [])
        guard case .sql(_, nil) = first.sql.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')", []) else {
            Issue.record("setup failed")
            return
        }
        let bytes = first.snapshot()
        let second = KVStateMachine()
        try second.restore(bytes, at: first.appliedIndex)
        guard case let .sql(results, nil) = second.readSQL("SELECT v FROM t ORDER BY id", []) else {
            Issue.record("the restored replica cannot read its table")
            return
        }
        #expect(results.last?.rows == [[.text("a")], [.text("b")]])
        #expect(second.digest == first.digest)
        // A request that leaves its transaction open is rolled back, and says so.
        guard case let .sql(_, error?) = second.sql.execute("BEGIN; DELETE FROM t", []) else {
            Issue.record("an unfinished transaction was accepted")
            return
        }
        #expect(error.contains("rolled back"))
        guard case let .sql(after, nil) = second.readSQL("SELECT count(*) FROM t", []) else { return }
        #expect(after.last?.rows == [[.integer(2)]])
        // A write dressed as a read (served outside the log) is refused, not run on one replica.
        guard case let .sql(_, refusal?) = second.readSQL("SELECT 1; DELETE FROM t", []) else {
            Issue.record("a write ran on the read path")
            return
        }
        #expect(refusal.contains("read-only"))
        // An answer must fit one network message: a bigger one is refused with advice.
        _ = second.sql.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT)", [])
        for id in 1...700 { _ = second.sql.execute("INSERT INTO big VALUES ($1, $2)", [.integer(Int64(id)), .text(String(repeating: "p", count: 1000))]) }
        guard case let .sql(tooBig, bigError?) = second.readSQL("SELECT * FROM big", []) else {
            Issue.record("a reply above the limit was sent")
            return
        }
        #expect(tooBig.isEmpty && bigError.contains("narrow it with WHERE or LIMIT"))
        guard case .sql(_, nil) = second.readSQL("SELECT * FROM big LIMIT 100", []) else {
            Issue.record("a reply under the limit was refused")
            return
        }
        guard case let .sql(still, nil) = second.readSQL("SELECT count(*) FROM t", []) else { return }
        #expect(still.last?.rows == [[.integer(2)]])
    }
}

@Suite struct RowLayoutTests {
    /// Rows round-trip, columns a query does not read come back NULL, and damaged bytes
    /// (every truncation, random byte changes) are refused as damage, never a crash.
    @Test func rowsRoundTripAndDamageIsRefused() throws {
        let row: [SQLValue] = [.integer(-7), .null, .real(2.5), .text("héllo"), .blob([0, 1, 255]), .integer(Int64.max)]
        let bytes = RowLayout.encode(row)
        #expect(try RowLayout.decode(bytes) == row)
        let needed = [true, false, false, true, false, true]
        #expect(try RowLayout.decode(bytes, needed: needed) == [.integer(-7), .null, .null, .text("héllo"), .null, .integer(Int64.max)])
        // A slice that starts inside its array decodes the same.
        let padded = [7, 7, 7] + bytes
        #expect(try RowLayout.decode(padded[3...]) == row)
        for cut in 0..<bytes.count {
            #expect(throws: SQLError.self) { try RowLayout.decode(Array(bytes[..<cut])) }
        }
        var random = TestRandom(seed: 5)
        for _ in 0..<2000 {
            var damaged = bytes
            damaged[random.below(damaged.count)] = UInt8(random.below(256))
            do { _ = try RowLayout.decode(damaged) } catch { #expect(error.kind == .storage) }
        }
    }
}

@Suite struct ValueTableTests {
    /// Against a model: every key stored is found with its position, equal values of
    /// different types (1 and 1.0, 0.0 and -0.0) are one key, and absent keys are not
    /// found, through many resizes.
    @Test func agreesWithAModel() {
        var table = ValueTable()
        var model: [(SQLValue, Int)] = []
        var random = TestRandom(seed: 11)
        func draw() -> SQLValue {
            switch random.below(6) {
            case 0: return .null
            case 1: return .integer(Int64(random.below(500)) - 250)
            case 2: return .real(Double(random.below(500) - 250) / (random.below(2) == 0 ? 1 : 4))
            case 3: return .text("t\(random.below(300))")
            case 4: return .blob([UInt8(random.below(4)), UInt8(random.below(256))])
            default: return .real(-0.0)
            }
        }
        for step in 0..<5000 {
            let value = draw()
            let expected = model.first { $0.0 == value }?.1
            #expect(table.find(value) == expected, "\(value)")
            if expected == nil {
                table.insert(value, step)
                model.append((value, step))
            }
        }
        #expect(table.count == model.count)
        #expect(table.find(.integer(3)) == table.find(.real(3.0)))
        #expect(ValueTable.hash(.real(0.0)) == ValueTable.hash(.real(-0.0)))
    }
}

@Suite struct PlanLifetimeTests {
    /// A prepared statement with a correlated subquery, run and then dropped, frees its
    /// plan: the subquery's nodes let go of their run after it (the run holds the
    /// subquery plans, so keeping it was a cycle that leaked every such plan), and the
    /// cached plan holds no finished run.
    @Test func aDroppedPlanWithASubqueryIsFreed() throws {
        weak var subqueryRoot: PlanNode?
        weak var root: PlanNode?
        try {
            let database = SQLDatabase(store: MVCCStore(backend: MemoryBackend()))
            let session = database.session()
            let (_, error) = session.executeAll("CREATE TABLE t (a INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3)")
            #expect(error == nil)
            let prepared = try session.prepare("SELECT a, (SELECT count(*) FROM t AS u WHERE u.a < t.a) FROM t")
            #expect(try session.execute(prepared).rows.count == 3)
            subqueryRoot = prepared.plan?.plan.subplans.first?.root
            root = prepared.plan?.plan.root
            #expect(subqueryRoot != nil && root != nil)
        }()
        #expect(subqueryRoot == nil, "the subquery's plan was kept alive by a cycle")
        #expect(root == nil)
    }
}

/// Hash-partitioned tables (`PRIMARY KEY … USING HASH`): where rows are stored, how they
/// are read, and how the catalog keeps the option.
@Suite struct HashPartitionedTableTests {
    @Test func sequentialKeysSpreadOverTheBucketsAndReadBack() throws {
        let backend = MemoryBackend()
        let session = SQLDatabase(store: MVCCStore(backend: backend)).session()
        _ = try session.execute("CREATE TABLE e (id INTEGER PRIMARY KEY USING HASH WITH (bucket_count = 8), v INTEGER)")
        _ = try session.execute("INSERT INTO e VALUES " + (1...400).map { "(\($0), \($0 * 10))" }.joined(separator: ", "))
        let rows = try backend.scan(from: [0x02], to: [0x03], at: backend.lastTimestamp, limit: .max)
        #expect(rows.count == 400)
        var perBucket = [Int](repeating: 0, count: 256)
        for row in rows { perBucket[Int(row.key[5])] += 1 }
        #expect(perBucket.prefix(8).allSatisfy { (25...75).contains($0) }, "400 sequential ids in 8 buckets: \(perBucket.prefix(8))")
        #expect(perBucket.dropFirst(8).allSatisfy { $0 == 0 })
        #expect(try session.execute("SELECT v FROM e WHERE id = 321").last?.rows == [[.integer(3210)]])
        #expect(try session.execute("SELECT count(*), sum(v) FROM e WHERE id BETWEEN 101 AND 200").last?.rows == [[.integer(100), .integer(150_500)]])
        #expect(try session.execute("SELECT id FROM e ORDER BY id LIMIT 3").last?.rows == [[.integer(1)], [.integer(2)], [.integer(3)]])
        let plan = try session.execute("EXPLAIN SELECT v FROM e WHERE id = 7").last?.rows.map { $0.map(\.description).joined() }.joined(separator: "\n") ?? ""
        #expect(plan.contains("GET e BY PRIMARY KEY"), "\(plan)")
        let rangePlan = try session.execute("EXPLAIN SELECT v FROM e WHERE id > 7").last?.rows.map { $0.map(\.description).joined() }.joined(separator: "\n") ?? ""
        #expect(rangePlan.contains("SCAN e (8 HASH BUCKETS)"), "a hash-partitioned key serves no ranges: \(rangePlan)")
    }

    @Test func theCatalogKeepsTheBucketsAndOthersKeepTheirBytes() throws {
        var plain = Catalog()
        try plain.apply(try Parser.parseOne("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT)"))
        #expect(plain.encoded.first == Catalog.formatVersion, "a catalog without a hash-partitioned table keeps the first format")
        var hashed = plain
        try hashed.apply(try Parser.parseOne("CREATE TABLE h (a INTEGER, b TEXT, PRIMARY KEY (a, b) USING HASH)"))
        #expect(hashed.table("h")?.hashBuckets == Parser.hashBucketsDefault)
        let decoded = try Catalog.decode(hashed.encoded)
        #expect(decoded == hashed)
        let printed = SQLPrinter.print(try Parser.parseOne("CREATE TABLE h (a INTEGER PRIMARY KEY USING HASH WITH (bucket_count = 4), b TEXT)"))
        #expect(printed.contains("USING HASH WITH (bucket_count = 4)"))
        #expect(try Parser.parseOne(printed) == Parser.parseOne("CREATE TABLE h (a INTEGER PRIMARY KEY USING HASH WITH (bucket_count = 4), b TEXT)"))
        for bad in ["CREATE TABLE x (a INTEGER PRIMARY KEY USING HASH WITH (bucket_count = 1))",
                    "CREATE TABLE x (a INTEGER PRIMARY KEY USING RANGE)",
                    "CREATE TABLE x (a INTEGER PRIMARY KEY USING HASH WITH (buckets = 4))"] {
            #expect(throws: SQLError.self, "\(bad)") { try Parser.parseOne(bad) }
        }
    }
}
