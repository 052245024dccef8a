import Aegis

/// Judges a storage node against a model built from what the node itself applied.
///
/// The model is every version of every key, in commit-timestamp order: the node's
/// history as it happened. From it:
/// - commits must come at dense timestamps (each one after the last), so "the batches
///   through T" names a prefix exactly;
/// - after every recovery the store must hold exactly the prefix through its recovered
///   timestamp — every key read back equals the model, and a full scan finds no key the
///   model lacks — so no transaction is half applied and nothing appears from nowhere;
/// - that prefix must reach every acknowledged commit (durability) and no further than
///   what was ever applied;
/// - every read and scan the node served must equal the model at its snapshot;
/// - transfers conserve money: the accounts always sum to what they started with;
/// - damage may surface only as a `corruption` error naming a file the disk really
///   damaged (a bit flip or a misdirected write there); a wrong value is never excused.
final class StorageChecker {
    struct Problem {
        var check: CheckName
        var message: String
    }

    private var versions: [[UInt8]: [(timestamp: Timestamp, value: [UInt8]?)]] = [:]
    private(set) var appliedThrough: Timestamp = 0
    private(set) var acknowledgedThrough: Timestamp = 0
    let accountKeys: [[UInt8]]
    let expectedTotal: Int
    private(set) var recoveries = 0
    private(set) var keysVerified = 0
    private(set) var readsChecked = 0
    private(set) var scansChecked = 0
    private(set) var corruptionReported = 0
    /// Acknowledged commits lost because both copies of the log's newest frame rotted.
    private(set) var acknowledgedLostToDamage: UInt64 = 0

    init(accountKeys: [[UInt8]], expectedTotal: Int) {
        self.accountKeys = accountKeys
        self.expectedTotal = expectedTotal
    }

    static func show(_ value: [UInt8]?) -> String {
        guard let value else { return "nothing" }
        let text = String(decoding: value.prefix(40), as: UTF8.self)
        return "'" + text + (value.count > 40 ? "…' (\(value.count) bytes)" : "'")
    }

    func value(of key: [UInt8], at timestamp: Timestamp) -> [UInt8]? {
        versions[key]?.first { $0.timestamp <= timestamp }?.value ?? nil
    }

    /// The live keys in [start, end) at `timestamp`, at most `limit`.
    func rows(from start: [UInt8], to end: [UInt8]?, at timestamp: Timestamp, limit: Int) -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        for key in sortedKeys where compareBytes(key, start) >= 0 {
            if let end, compareBytes(key, end) >= 0 { break }
            if let value = value(of: key, at: timestamp) { result.append((key, value)) }
            if result.count == limit { break }
        }
        return result
    }

    private var sortedKeys: [[UInt8]] {
        versions.keys.sorted { compareBytes($0, $1) < 0 }
    }

    // MARK: events

    func committed(at timestamp: Timestamp, writes: [KeyWrite]) -> Problem? {
        guard timestamp == appliedThrough + 1 else {
            return Problem(check: .integrity, message: "a commit took timestamp \(timestamp) right after \(appliedThrough); commit timestamps must be dense")
        }
        for write in writes { versions[write.key, default: []].insert((timestamp, write.value), at: 0) }
        appliedThrough = timestamp
        return totalProblem(at: timestamp, context: "after the commit at \(timestamp)")
    }

    func acknowledged(through timestamp: Timestamp) -> Problem? {
        guard timestamp <= appliedThrough else {
            return Problem(check: .integrity, message: "commits through \(timestamp) were acknowledged but only \(appliedThrough) applied")
        }
        acknowledgedThrough = max(acknowledgedThrough, timestamp)
        return nil
    }

    /// A damage report is fine only if the disk damaged the file it names.
    private func corruption(_ error: StorageError, _ context: String, damaged: (String) -> Bool) -> Problem? {
        corruptionReported += 1
        guard case let .corruption(file, _) = error, damaged(file) else {
            return Problem(check: .integrity, message: "\(context) reported damage (\(error)) although the disk damaged nothing there")
        }
        return nil
    }

    func read(at timestamp: Timestamp, key: [UInt8], result: Result<[UInt8]?, StorageError>, damaged: (String) -> Bool) -> Problem? {
        readsChecked += 1
        switch result {
        case let .success(found):
            let expected = value(of: key, at: timestamp)
            guard found == expected else {
                return Problem(check: .integrity, message: "a read of \(StorageChecker.show(key)) at \(timestamp) returned \(StorageChecker.show(found)); the commits through \(timestamp) left \(StorageChecker.show(expected))")
            }
            return nil
        case let .failure(error):
            if case .corruption = error { return corruption(error, "a read of \(StorageChecker.show(key))", damaged: damaged) }
            return nil
        }
    }

    func scanned(at timestamp: Timestamp, start: [UInt8], end: [UInt8]?, limit: Int,
                 result: Result<[(key: [UInt8], value: [UInt8])], StorageError>, damaged: (String) -> Bool) -> Problem? {
        scansChecked += 1
        switch result {
        case let .success(found):
            let expected = rows(from: start, to: end, at: timestamp, limit: limit)
            guard found.map(\.key) == expected.map(\.key), found.map(\.value) == expected.map(\.value) else {
                let first = zip(found, expected).first { $0.key != $1.key || $0.value != $1.value }
                let detail = first.map { "first difference: \(StorageChecker.show($0.0.key))=\(StorageChecker.show($0.0.value)) where the model has \(StorageChecker.show($0.1.key))=\(StorageChecker.show($0.1.value))" }
                    ?? "\(found.count) rows where the model has \(expected.count)"
                return Problem(check: .integrity, message: "a scan from \(StorageChecker.show(start)) at \(timestamp) disagrees with the commits through \(timestamp); \(detail)")
            }
            return nil
        case let .failure(error):
            if case .corruption = error { return corruption(error, "a scan", damaged: damaged) }
            return nil
        }
    }

    func refusedToOpen(_ error: StorageError, damaged: (String) -> Bool) -> Problem? {
        if case .corruption = error { return corruption(error, "opening the store", damaged: damaged) }
        return Problem(check: .integrity, message: "the store refused to open: \(error)")
    }

    /// After a recovery to `last`: the prefix must cover every acknowledged commit, and
    /// the store (read through `get` and `scanAll`) must equal the model through `last`.
    ///
    /// One loss is beyond what the log claims to survive, and is counted instead of
    /// reported: when recovery cut the log's tail (`cutTail`) and the disk had damaged
    /// the log, both copies of the newest frame may have rotted, which looks exactly
    /// like a frame that was never synced (the chance is the square of the sector
    /// error rate).
    func recovered(
        through last: Timestamp, cutTail: Bool, damaged: (String) -> Bool,
        get: ([UInt8]) -> Result<[UInt8]?, StorageError>,
        scanAll: () -> Result<[(key: [UInt8], value: [UInt8])], StorageError>
    ) -> Problem? {
        recoveries += 1
        if last < acknowledgedThrough {
            guard cutTail, damaged("wal") else {
                return Problem(check: .durability, message: "recovery holds commits through \(last), but commits through \(acknowledgedThrough) were acknowledged as durable")
            }
            acknowledgedLostToDamage += acknowledgedThrough - last
            acknowledgedThrough = last
        }
        if last > appliedThrough {
            return Problem(check: .integrity, message: "recovery holds commits through \(last), but only \(appliedThrough) were ever applied")
        }
        // Commits after the recovered prefix were never acknowledged: they are gone.
        for key in sortedKeys {
            versions[key]!.removeAll { $0.timestamp > last }
        }
        appliedThrough = last
        return verify(at: last, damaged: damaged, get: get, scanAll: scanAll,
                      context: "after recovery to \(last)")
    }

    /// The store read through `get` and `scanAll` must equal the model at `timestamp`.
    func verify(
        at timestamp: Timestamp, damaged: (String) -> Bool,
        get: ([UInt8]) -> Result<[UInt8]?, StorageError>,
        scanAll: () -> Result<[(key: [UInt8], value: [UInt8])], StorageError>, context: String
    ) -> Problem? {
        for key in sortedKeys {
            keysVerified += 1
            switch get(key) {
            case let .success(found):
                let expected = value(of: key, at: timestamp)
                if found != expected {
                    let check: CheckName = found == nil ? .durability : .integrity
                    return Problem(check: check, message: "\(context), \(StorageChecker.show(key)) holds \(StorageChecker.show(found)); the commits through \(timestamp) left \(StorageChecker.show(expected))")
                }
            case let .failure(error):
                if case .corruption = error {
                    if let problem = corruption(error, "\(context), reading \(StorageChecker.show(key))", damaged: damaged) { return problem }
                } else {
                    return Problem(check: .integrity, message: "\(context), reading \(StorageChecker.show(key)) failed: \(error)")
                }
            }
        }
        switch scanAll() {
        case let .success(rows):
            let expected = self.rows(from: [], to: nil, at: timestamp, limit: .max)
            if rows.map(\.key) != expected.map(\.key) || rows.map(\.value) != expected.map(\.value) {
                let extra = rows.first { row in !expected.contains { $0.key == row.key } }
                let detail = extra.map { "it holds \(StorageChecker.show($0.key)), which no commit through \(timestamp) left" }
                    ?? "\(rows.count) keys where the model has \(expected.count)"
                return Problem(check: .integrity, message: "\(context), a full scan disagrees with the model: \(detail)")
            }
        case let .failure(error):
            if case .corruption = error {
                if let problem = corruption(error, "\(context), a full scan", damaged: damaged) { return problem }
            } else {
                return Problem(check: .integrity, message: "\(context), a full scan failed: \(error)")
            }
        }
        return totalProblem(at: timestamp, context: context)
    }

    /// Money is conserved (once the accounts exist).
    private func totalProblem(at timestamp: Timestamp, context: String) -> Problem? {
        var total = 0
        for key in accountKeys {
            guard let value = value(of: key, at: timestamp) else { return nil }
            total += Int(String(decoding: value, as: UTF8.self)) ?? 0
        }
        guard total == expectedTotal else {
            return Problem(check: .integrity, message: "\(context), the accounts hold \(total) in all, not \(expectedTotal): a transfer was lost or doubled")
        }
        return nil
    }
}
