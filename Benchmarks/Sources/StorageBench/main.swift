// The storage engine against SQLite, the same work in the same run, on the real disk.
//
// Both stores keep the same durability promise: a commit reaches the operating system
// before it is acknowledged and the device at checkpoints — SQLite in WAL mode with
// synchronous=NORMAL, Aegis's LSM tree with SyncMode.onFlush (fsync at every memtable
// flush). Both get the same cache budget (64 MiB) and store keys and values as blobs
// (SQLite: a WITHOUT ROWID table keyed by the blob). Writes go through each engine's
// transactions: Aegis's MVCC store, SQLite's BEGIN/COMMIT.
//
// Workloads, over N keys (default 1,000,000; values are realistic ~110-byte rows):
//   sequential insert   N keys in key order, 1,000 per transaction
//   random insert       N keys in a shuffled order, 1,000 per transaction (fresh store)
//   point read          N/2 reads of random existing keys
//   range scan          N/100 scans of 100 consecutive keys from random starts
//   mixed               N/10 operations, 80% point reads and 20% single-row update
//                       transactions, each committed on its own
// then block compression on the same rows: ratio and speed per codec.
//
// Usage: StorageBench [--keys N] [--dir PATH] [--compression none|lz4|zstd[:LEVEL]]
//                     [--engine both|aegis|sqlite] [--only WORKLOAD]   (for profiling)
import Aegis
import BenchSupport
import CSQLite
import Foundation
import Runtime

// MARK: options

func option(_ name: String) -> String? { BenchOptions().value(name) }
let keyCount = option("--keys").flatMap(Int.init) ?? 1_000_000
let root = option("--dir") ?? "/tmp/aegis-storage-bench"
let compressionChoice = BlockCompression(parsing: option("--compression") ?? "lz4")
let compression = compressionChoice ?? .lz4
if compressionChoice == nil {
    FileHandle.standardError.write(Data("error: --compression takes none, lz4, zstd or zstd:LEVEL\n".utf8))
    exit(2)
}
let engine = option("--engine") ?? "both"
let only = option("--only")
let batchRows = 1000
let cacheBytes = 64 << 20

// MARK: data

func key(_ number: Int) -> [UInt8] {
    let digits = String(number)
    return Array(("user:" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits).utf8)
}

let cities = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quebec", "Tartu", "Perth", "Accra", "Hanoi"]
let plans = ["free", "team", "business", "enterprise"]
func row(_ number: Int, version: Int = 0) -> [UInt8] {
    let text = "{\"id\":\(number),\"name\":\"customer \(number &* 7919 % 1_000_003)\",\"city\":\"\(cities[number % cities.count])\","
        + "\"plan\":\"\(plans[(number / 7) % plans.count])\",\"balance\":\(number &* 37 % 100_000 + version),\"active\":\(number % 3 != 0)}"
    return Array(text.utf8)
}

var shuffled = Array(0..<keyCount)
do {
    var random = Random(state: 42)
    for index in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(index, random.below(index + 1)) }
}

// MARK: the two stores

protocol Store {
    func insert(_ rows: ArraySlice<Int>)
    func read(_ number: Int) -> Bool
    func scan(from number: Int, count: Int) -> Int
    func update(_ number: Int, version: Int)
    func checkpoint()
    func close()
}

final class AegisStore: Store {
    let tree: LSMTree
    let store: MVCCStore

    init(path: String) {
        var options = StorageOptions()
        options.syncMode = .onFlush
        options.compression = compression
        options.blockCacheBytes = cacheBytes
        do {
            tree = try LSMTree(disk: try FileDisk(path: path), options: options)
        } catch {
            fail("cannot open the Aegis store in \(path): \(error)")
        }
        store = MVCCStore(backend: tree)
    }

    func insert(_ rows: ArraySlice<Int>) {
        let transaction = store.begin()
        do {
            for number in rows { try transaction.put(key(number), row(number)) }
            try store.commit(transaction)
        } catch {
            fail("Aegis insert: \(error)")
        }
    }

    func read(_ number: Int) -> Bool {
        do {
            return try store.read(key(number)) != nil
        } catch {
            fail("Aegis read: \(error)")
        }
    }

    func scan(from number: Int, count: Int) -> Int {
        do {
            return try tree.scan(from: key(number), to: nil, at: store.visibleTimestamp, limit: count).count
        } catch {
            fail("Aegis scan: \(error)")
        }
    }

    func update(_ number: Int, version: Int) {
        let transaction = store.begin()
        do {
            try transaction.put(key(number), row(number, version: version))
            try store.commit(transaction)
        } catch {
            fail("Aegis update: \(error)")
        }
    }

    func checkpoint() {
        do {
            try tree.flush()
        } catch {
            fail("Aegis flush: \(error)")
        }
    }

    func close() { tree.close() }
}

final class SQLiteStore: Store {
    let connection: SQLiteConnection
    var database: OpaquePointer? { connection.database }
    var insertStatement: OpaquePointer?
    var selectStatement: OpaquePointer?
    var scanStatement: OpaquePointer?

    init(path: String) {
        connection = SQLiteConnection(path: path, cacheBytes: cacheBytes)
        execute("CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID")
        insertStatement = prepare("INSERT OR REPLACE INTO kv(key, value) VALUES(?, ?)")
        selectStatement = prepare("SELECT value FROM kv WHERE key = ?")
        scanStatement = prepare("SELECT key, value FROM kv WHERE key >= ? ORDER BY key LIMIT ?")
    }

    func execute(_ sql: String) { connection.execute(sql) }
    func prepare(_ sql: String) -> OpaquePointer? { connection.prepare(sql) }

    func bind(_ statement: OpaquePointer?, _ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    func put(_ number: Int, _ value: [UInt8]) {
        bind(insertStatement, 1, key(number))
        bind(insertStatement, 2, value)
        guard sqlite3_step(insertStatement) == SQLITE_DONE else { fail("SQLite insert failed") }
        sqlite3_reset(insertStatement)
    }

    func insert(_ rows: ArraySlice<Int>) {
        execute("BEGIN")
        for number in rows { put(number, row(number)) }
        execute("COMMIT")
    }

    func read(_ number: Int) -> Bool {
        bind(selectStatement, 1, key(number))
        let found = sqlite3_step(selectStatement) == SQLITE_ROW
        if found {
            // Copy the value out, as the Aegis read does.
            let length = Int(sqlite3_column_bytes(selectStatement, 0))
            let value = [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(selectStatement, 0), count: length))
            precondition(!value.isEmpty)
        }
        sqlite3_reset(selectStatement)
        return found
    }

    func scan(from number: Int, count: Int) -> Int {
        bind(scanStatement, 1, key(number))
        sqlite3_bind_int(scanStatement, 2, Int32(count))
        var rows = 0
        while sqlite3_step(scanStatement) == SQLITE_ROW {
            let keyLength = Int(sqlite3_column_bytes(scanStatement, 0))
            let length = Int(sqlite3_column_bytes(scanStatement, 1))
            let pair = ([UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(scanStatement, 0), count: keyLength)),
                        [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(scanStatement, 1), count: length)))
            precondition(!pair.0.isEmpty)
            rows += 1
        }
        sqlite3_reset(scanStatement)
        return rows
    }

    func update(_ number: Int, version: Int) {
        execute("BEGIN")
        put(number, row(number, version: version))
        execute("COMMIT")
    }

    func checkpoint() {
        execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    func close() {
        for statement in [insertStatement, selectStatement, scanStatement] { sqlite3_finalize(statement) }
        connection.close()
    }
}

// MARK: running

struct Measurement {
    var name: String
    var operations: Int
    var aegisSeconds: Double
    var sqliteSeconds: Double
    var aegisRate: Double { Double(operations) / aegisSeconds }
    var sqliteRate: Double { Double(operations) / sqliteSeconds }
}

nonisolated(unsafe) var results: [Measurement] = []

func measure(_ name: String, operations: Int, aegis: Store, sqlite: Store, _ work: (Store) -> Void) {
    // --only: that workload alone (and the random insert that loads the store the
    // later ones read).
    if let only, !name.hasPrefix(only), !(name.hasPrefix("random insert") && !"sequential insert".hasPrefix(only)) { return }
    let aegisSeconds = engine == "sqlite" ? .nan : time { work(aegis) }
    let sqliteSeconds = engine == "aegis" ? .nan : time { work(sqlite) }
    let result = Measurement(name: name, operations: operations, aegisSeconds: aegisSeconds, sqliteSeconds: sqliteSeconds)
    results.append(result)
    print("  " + padded(name, 18) + String(format: " %10.0f ops/s  %10.0f ops/s  %6.2fx", result.aegisRate, result.sqliteRate,
                 result.aegisRate / result.sqliteRate))
}

print("StorageBench: \(keyCount) keys, Aegis LSM (\(compression), sync on flush) vs SQLite \(String(cString: sqlite3_libversion())) (WAL, synchronous=NORMAL), cache 64 MiB each, in \(root)")
print("  " + padded("workload", 18) + "        Aegis        SQLite     Aegis/SQLite")
removeTree(root + "/aegis-seq")
removeTree(root + "/sqlite-seq")
removeTree(root + "/aegis")
removeTree(root + "/sqlite")
_ = mkdir(root, 0o755)

do {
    let aegis = AegisStore(path: root + "/aegis-seq")
    let sqlite = SQLiteStore(path: root + "/sqlite-seq")
    let ordered = Array(0..<keyCount)
    measure("sequential insert", operations: keyCount, aegis: aegis, sqlite: sqlite) { store in
        for start in stride(from: 0, to: keyCount, by: batchRows) { store.insert(ordered[start..<min(start + batchRows, keyCount)]) }
        store.checkpoint()
    }
    aegis.close()
    sqlite.close()
    removeTree(root + "/aegis-seq")
    removeTree(root + "/sqlite-seq")
}

let aegis = AegisStore(path: root + "/aegis")
let sqlite = SQLiteStore(path: root + "/sqlite")
measure("random insert", operations: keyCount, aegis: aegis, sqlite: sqlite) { store in
    for start in stride(from: 0, to: keyCount, by: batchRows) { store.insert(shuffled[start..<min(start + batchRows, keyCount)]) }
    store.checkpoint()
}
let reads = keyCount / 2
measure("point read", operations: reads, aegis: aegis, sqlite: sqlite) { store in
    var random = Random(state: 7)
    var found = 0
    for _ in 0..<reads where store.read(random.below(keyCount)) { found += 1 }
    if found != reads { fail("only \(found) of \(reads) keys were found") }
}
let scans = keyCount / 100
measure("range scan (100)", operations: scans, aegis: aegis, sqlite: sqlite) { store in
    var random = Random(state: 9)
    var rows = 0
    for _ in 0..<scans { rows += store.scan(from: random.below(keyCount - 100), count: 100) }
    if rows != scans * 100 { fail("scans returned \(rows) rows, expected \(scans * 100)") }
}
let mixed = keyCount / 10
measure("mixed 80/20", operations: mixed, aegis: aegis, sqlite: sqlite) { store in
    var random = Random(state: 11)
    for operation in 0..<mixed {
        let number = random.below(keyCount)
        if random.below(10) < 8 {
            if !store.read(number) { fail("key \(number) missing") }
        } else {
            store.update(number, version: operation)
        }
    }
}
let statistics = aegis.tree.statistics
let shape = aegis.tree.levelShape.map { "\($0.tables)" }.joined(separator: "/")
aegis.close()
sqlite.close()
print(String(format: "  Aegis write amplification %.2f (tables only %.2f), %d flushes, %d compactions, tables per level %@",
             statistics.writeAmplification, statistics.tableWriteAmplification, statistics.flushes, statistics.compactions, shape as NSString))
print(String(format: "  on disk: Aegis %.1f MiB, SQLite %.1f MiB", Double(directoryBytes(root + "/aegis")) / 1048576,
             Double(directoryBytes(root + "/sqlite")) / 1048576))
removeTree(root + "/aegis")
removeTree(root + "/sqlite")

// MARK: compression per codec

print("Block compression on the same rows (4 KiB blocks as tables store them, \(min(keyCount, 200_000)) rows):")
var blocks: [[UInt8]] = []
do {
    var current: [UInt8] = []
    for number in 0..<min(keyCount, 200_000) {
        current += key(number) + row(number)
        if current.count >= 4096 {
            blocks.append(current)
            current = []
        }
    }
}
let rawBytes = blocks.reduce(0) { $0 + $1.count }
for codec in [BlockCompression.none, .lz4, .zstd(level: 1), .zstd(level: 3), .zstd(level: 9)] {
    var sealed: [[UInt8]] = []
    let context = CodecContext()
    let compressSeconds = time { sealed = blocks.map { codec.seal($0, context: context) } }
    var restored = 0
    let decompressSeconds = time { for block in sealed { restored += BlockCompression.unseal(block, context: context)?.count ?? 0 } }
    if restored != rawBytes { fail("\(codec) did not restore the blocks") }
    let stored = sealed.reduce(0) { $0 + $1.count }
    print("  " + padded("\(codec)", 8) + String(format: " ratio %5.2f  compress %7.0f MB/s  decompress %7.0f MB/s",
                 Double(rawBytes) / Double(stored), Double(rawBytes) / compressSeconds / 1e6, Double(rawBytes) / decompressSeconds / 1e6))
}
