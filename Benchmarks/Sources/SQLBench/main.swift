// The SQL engine against SQLite, embedded, the same statements in the same run, on the
// real disk. Both keep the same durability promise: a commit reaches the operating
// system before it returns and the device at checkpoints (SQLite: WAL with
// synchronous=NORMAL; Aegis: its LSM tree syncing at memtable flushes). Both get a
// 64 MiB cache and run prepared statements with parameters.
//
// Schema: orders(id INTEGER PRIMARY KEY, customer INTEGER, region INTEGER, amount REAL,
// note TEXT) with N rows (default 1,000,000) and regions(id INTEGER PRIMARY KEY, name
// TEXT, tier INTEGER) with 1,000.
//
// Workloads:
//   bulk insert      N rows, 10,000 per transaction (BEGIN … COMMIT)
//   point select     N/10 selects of one row by primary key
//   range scan       N/500 selects of 100 consecutive rows by primary key range
//   group by         SELECT region, count(*), sum(amount), avg(amount) … GROUP BY region (3 runs)
//   join             orders JOIN regions ON region, grouped by tier (3 runs)
//
// The engines take turns, a chunk of each workload at a time (a transaction of the bulk
// insert, a twentieth of the selects, one run of a query), so both see the same
// moments of a shared machine.
//
// Usage: SQLBench [--rows N] [--dir PATH] [--only WORKLOAD] [--query-runs N]
import Aegis
import BenchSupport
import CSQLite
import Foundation
import Runtime

let options = BenchOptions()
let rowCount = options.value("--rows").flatMap(Int.init) ?? 1_000_000
let root = options.value("--dir") ?? "/tmp/aegis-sql-bench"
let only = options.value("--only")
/// How many times the GROUP BY and join queries run (for profiling one of them).
let queryRuns = options.value("--query-runs").flatMap(Int.init) ?? 3
let batchRows = 10_000
let regionCount = 1000
let cacheBytes = 64 << 20

func orderRow(_ id: Int) -> (customer: Int, region: Int, amount: Double, note: String) {
    (id &* 7919 % 50_000, id &* 31 % regionCount + 1, Double(id &* 37 % 100_000) / 100, "order \(id) for customer \(id &* 7919 % 50_000)")
}

protocol Engine {
    func execute(_ sql: String)
    func prepare(_ sql: String) -> Int
    /// Runs prepared statement `statement` with `parameters`; returns the rows it gave.
    func run(_ statement: Int, _ parameters: [SQLValue]) -> Int
    func close()
}

final class AegisEngine: Engine {
    let tree: LSMTree
    let session: SQLSession
    var statements: [PreparedStatement] = []

    init(path: String) {
        var storage = StorageOptions()
        storage.syncMode = .onFlush
        storage.blockCacheBytes = cacheBytes
        do {
            tree = try LSMTree(disk: try FileDisk(path: path), options: storage)
        } catch {
            fail("cannot open Aegis in \(path): \(error)")
        }
        session = SQLDatabase(store: MVCCStore(backend: tree)).session()
    }

    func execute(_ sql: String) {
        let (_, error) = session.executeAll(sql)
        if let error { fail("Aegis: \(sql): \(error)") }
    }

    func prepare(_ sql: String) -> Int {
        do { statements.append(try session.prepare(sql)) } catch { fail("Aegis: cannot prepare \(sql): \(error)") }
        return statements.count - 1
    }

    func run(_ statement: Int, _ parameters: [SQLValue]) -> Int {
        do {
            return try session.execute(statements[statement], parameters: parameters).rows.count
        } catch {
            fail("Aegis: \(statements[statement].source): \(error)")
        }
    }

    func close() { tree.close() }
}

final class SQLiteEngine: Engine {
    let connection: SQLiteConnection
    var database: OpaquePointer? { connection.database }
    var statements: [OpaquePointer?] = []

    init(path: String) {
        connection = SQLiteConnection(path: path, cacheBytes: cacheBytes)
    }

    func execute(_ sql: String) { connection.execute(sql) }

    func prepare(_ sql: String) -> Int {
        statements.append(connection.prepare(sql))
        return statements.count - 1
    }

    func run(_ index: Int, _ parameters: [SQLValue]) -> Int {
        let statement = statements[index]
        for (position, value) in parameters.enumerated() {
            let slot = Int32(position + 1)
            switch value {
            case .null: sqlite3_bind_null(statement, slot)
            case let .integer(number): sqlite3_bind_int64(statement, slot, number)
            case let .real(number): sqlite3_bind_double(statement, slot, number)
            case let .text(text): sqlite3_bind_text(statement, slot, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            case let .blob(bytes):
                bytes.withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(statement, slot, raw.baseAddress, Int32(raw.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                }
            }
        }
        var rows = 0
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { fail("SQLite step failed: \(String(cString: sqlite3_errmsg(database)))") }
            // Read every column out, as Aegis hands back values.
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: _ = sqlite3_column_int64(statement, column)
                case SQLITE_FLOAT: _ = sqlite3_column_double(statement, column)
                case SQLITE_TEXT: _ = String(cString: sqlite3_column_text(statement, column))
                default: break
                }
            }
            rows += 1
        }
        sqlite3_reset(statement)
        return rows
    }

    func close() {
        for statement in statements { sqlite3_finalize(statement) }
        connection.close()
    }
}

// MARK: running

/// Runs `work` for each engine in turns, chunk by chunk (Aegis's chunk 0, SQLite's
/// chunk 0, Aegis's chunk 1, …), so both meet the same moments of a shared, noisy
/// machine; each engine's time is the sum of its chunks.
func measure(_ name: String, operations: Int, chunks: Int, _ engines: (aegis: Engine, sqlite: Engine), _ work: (Engine, Int) -> Void) {
    if let only, name != "bulk insert", !name.hasPrefix(only) { return }
    var aegisSeconds = 0.0
    var sqliteSeconds = 0.0
    for chunk in 0..<chunks {
        aegisSeconds += time { work(engines.aegis, chunk) }
        sqliteSeconds += time { work(engines.sqlite, chunk) }
    }
    let aegisRate = Double(operations) / aegisSeconds
    let sqliteRate = Double(operations) / sqliteSeconds
    let format = aegisRate < 100 ? " %12.2f ops/s  %12.2f ops/s   %6.2fx" : " %12.0f ops/s  %12.0f ops/s   %6.2fx"
    print("  " + padded(name, 14) + String(format: format, aegisRate, sqliteRate, aegisRate / sqliteRate))
}

removeTree(root)
_ = mkdir(root, 0o755)
let aegis = AegisEngine(path: root + "/aegis")
let sqlite = SQLiteEngine(path: root + "/sqlite")
let engines: (aegis: Engine, sqlite: Engine) = (aegis, sqlite)
print("SQLBench: \(rowCount) orders, \(regionCount) regions; Aegis SQL on its LSM tree (sync on flush) vs SQLite \(String(cString: sqlite3_libversion())) (WAL, synchronous=NORMAL), cache 64 MiB each, in \(root)")
print("  " + padded("workload", 14) + "          Aegis           SQLite   Aegis/SQLite")

for engine in [aegis as Engine, sqlite] {
    engine.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, region INTEGER, amount REAL, note TEXT)")
    engine.execute("CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT, tier INTEGER)")
    let insertRegion = engine.prepare("INSERT INTO regions VALUES ($1, $2, $3)")
    engine.execute("BEGIN")
    for id in 1...regionCount { _ = engine.run(insertRegion, [.integer(Int64(id)), .text("region \(id)"), .integer(Int64(id % 5))]) }
    engine.execute("COMMIT")
}

let insertOrder = (aegis.prepare("INSERT INTO orders VALUES ($1, $2, $3, $4, $5)"), sqlite.prepare("INSERT INTO orders VALUES ($1, $2, $3, $4, $5)"))
// One chunk is one transaction of `batchRows` rows.
measure("bulk insert", operations: rowCount, chunks: (rowCount + batchRows - 1) / batchRows, engines) { engine, chunk in
    let statement = engine is AegisEngine ? insertOrder.0 : insertOrder.1
    let start = 1 + chunk * batchRows
    engine.execute("BEGIN")
    for id in start..<min(start + batchRows, rowCount + 1) {
        let row = orderRow(id)
        _ = engine.run(statement, [.integer(Int64(id)), .integer(Int64(row.customer)), .integer(Int64(row.region)), .real(row.amount), .text(row.note)])
    }
    engine.execute("COMMIT")
}

@MainActor func prepared(_ sql: String) -> (Int, Int) { (aegis.prepare(sql), sqlite.prepare(sql)) }
func pick(_ pair: (Int, Int), _ engine: Engine) -> Int { engine is AegisEngine ? pair.0 : pair.1 }

/// `count` operations in `chunks` turns: the range of operation numbers of one chunk.
func chunkRange(_ chunk: Int, of chunks: Int, _ count: Int) -> Range<Int> {
    (chunk * count / chunks)..<((chunk + 1) * count / chunks)
}

let pointSelect = prepared("SELECT customer, amount, note FROM orders WHERE id = $1")
let selects = rowCount / 10
var pointRandom = Random(state: 7)
let pointIDs = (0..<selects).map { _ in Int64(pointRandom.below(rowCount) + 1) }
measure("point select", operations: selects, chunks: 20, engines) { engine, chunk in
    var found = 0
    let ids = chunkRange(chunk, of: 20, selects)
    for index in ids { found += engine.run(pick(pointSelect, engine), [.integer(pointIDs[index])]) }
    if found != ids.count { fail("point selects found \(found) of \(ids.count) rows") }
}

let rangeScan = prepared("SELECT id, amount FROM orders WHERE id BETWEEN $1 AND $2")
let scans = rowCount / 500 * queryRuns / 3
var rangeRandom = Random(state: 9)
let rangeStarts = (0..<scans).map { _ in rangeRandom.below(rowCount - 100) + 1 }
measure("range scan", operations: scans, chunks: 20, engines) { engine, chunk in
    var rows = 0
    let starts = chunkRange(chunk, of: 20, scans)
    for index in starts {
        rows += engine.run(pick(rangeScan, engine), [.integer(Int64(rangeStarts[index])), .integer(Int64(rangeStarts[index] + 99))])
    }
    if rows != starts.count * 100 { fail("range scans gave \(rows) rows, expected \(starts.count * 100)") }
}

let groupBy = prepared("SELECT region, count(*), sum(amount), avg(amount) FROM orders GROUP BY region")
measure("group by", operations: queryRuns, chunks: queryRuns, engines) { engine, _ in
    if engine.run(pick(groupBy, engine), []) != regionCount { fail("GROUP BY did not give \(regionCount) groups") }
}

let join = prepared("SELECT r.tier, count(*), sum(o.amount) FROM orders o JOIN regions r ON r.id = o.region GROUP BY r.tier")
measure("join", operations: queryRuns, chunks: queryRuns, engines) { engine, _ in
    if engine.run(pick(join, engine), []) != 5 { fail("the join did not give 5 tiers") }
}

let (rawBytes, storedBytes) = aegis.tree.dataBytes
print(String(format: "  Aegis data blocks: %.1f MiB decoded, %.1f MiB stored; block cache hits %d, misses %d",
             Double(rawBytes) / 1048576, Double(storedBytes) / 1048576, aegis.tree.cache.hits, aegis.tree.cache.misses)
      + "; tables per level " + aegis.tree.levelShape.map { String($0.tables) }.joined(separator: "/")
      + "; \(aegis.tree.statistics.flushes) flushes (\(aegis.tree.statistics.flushesBelowLevel0) below level 0), \(aegis.tree.statistics.compactions) compactions")
aegis.close()
sqlite.close()
print(String(format: "  on disk: Aegis %.1f MiB, SQLite %.1f MiB", Double(directoryBytes(root + "/aegis")) / 1048576,
             Double(directoryBytes(root + "/sqlite")) / 1048576))
removeTree(root)
