// What the benchmarks share: a monotonic clock, a seeded generator, files, failing,
// and SQLite opened as both storage and SQL benchmarks use it.
import CSQLite
import Foundation

public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

/// Seconds on the monotonic clock.
public func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Seconds `body` takes.
public func time(_ body: () -> Void) -> Double {
    let start = now()
    body()
    return now() - start
}

public func removeTree(_ path: String) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
    for entry in entries { try? FileManager.default.removeItem(atPath: path + "/" + entry) }
    try? FileManager.default.removeItem(atPath: path)
}

public func directoryBytes(_ path: String) -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return entries.reduce(0) { total, entry in
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + entry, isDirectory: &isDirectory), isDirectory.boolValue {
            return total + directoryBytes(path + "/" + entry)
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + entry)
        return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
    }
}

public func padded(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

/// A seeded generator (splitmix on a PCG step): the same run every time.
public struct Random {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Command-line `--name value` options.
public struct BenchOptions {
    public let arguments = Array(CommandLine.arguments.dropFirst())
    public init() {}
    public func value(_ name: String) -> String? {
        guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }
}

/// SQLite, the peer the storage and SQL benchmarks measure against, opened the way both
/// use it: WAL with synchronous=NORMAL (a commit reaches the OS, the device at
/// checkpoints) and a page cache of `cacheBytes`.
public final class SQLiteConnection {
    public private(set) var database: OpaquePointer?

    public init(path: String, cacheBytes: Int) {
        _ = mkdir(path, 0o755)
        guard sqlite3_open(path + "/bench.sqlite", &database) == SQLITE_OK else { fail("cannot open SQLite in \(path)") }
        execute("PRAGMA journal_mode=WAL")
        execute("PRAGMA synchronous=NORMAL")
        execute("PRAGMA cache_size=-\(cacheBytes / 1024)")
    }

    public func execute(_ sql: String) {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(database, sql, nil, nil, &message) == SQLITE_OK else {
            fail("SQLite: \(sql): \(message.map { String(cString: $0) } ?? "?")")
        }
    }

    public func prepare(_ sql: String) -> OpaquePointer? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK else { fail("SQLite: cannot prepare \(sql)") }
        return statement
    }

    public func close() { sqlite3_close(database) }
}
