/// The SQL database of one replica: every replica runs the same SQL writes in log
/// order on its own copy, so all copies stay equal. It lives in memory beside the KV
/// map (rebuilt from the log and snapshots, like it).
///
/// What keeps replicas equal: the engine is deterministic (no clock, no randomness,
/// no hash order in answers), and plans depend only on the catalog and the statement
/// (row estimates are fixed here, not counted), so every replica chooses the same
/// plan and reaches the same rows in the same order.
final class SQLReplica {
    private(set) var database: SQLDatabase
    /// Planted bug `sql-commit-failed-transaction`.
    let commitFailedTransactions: Bool

    init(commitFailedTransactions: Bool = false) {
        self.commitFailedTransactions = commitFailedTransactions
        database = SQLReplica.emptyDatabase()
    }

    private static func emptyDatabase(_ backend: MemoryBackend = MemoryBackend()) -> SQLDatabase {
        let database = SQLDatabase(store: MVCCStore(backend: backend))
        database.fixedRowEstimate = 1000
        return database
    }

    /// Runs `text` in a session of its own: a transaction left open is rolled back.
    /// `readOnly` (a read served outside the log): only SELECT and EXPLAIN may run, so
    /// a request that claims to read cannot change one replica alone.
    func execute(_ text: String, _ parameters: [SQLValue], readOnly: Bool = false) -> KVResult {
        if readOnly {
            guard ((try? Parser.parse(text)) ?? []).allSatisfy(\.isReadOnly) else {
                return .sql([], error: "runtime error: a read-only request holds a statement that writes; send it as a write")
            }
        }
        let session = database.session()
        var (results, error) = session.executeAll(text, parameters: parameters)
        var message = error?.rendered(in: text)
        if session.inTransaction && commitFailedTransactions {
            _ = session.executeAll("COMMIT")
        }
        if session.inTransaction {
            session.abandon()
            message = message ?? "the transaction was rolled back: a request must end its transaction with COMMIT or ROLLBACK"
        }
        var bytes = 0
        for result in results { for row in result.rows { bytes += MemoryBudget.size(of: row) } }
        if bytes > KVLimits.sqlReplyBytesMax {
            results = []
            message = "limit error: the result is larger than \(KVLimits.sqlReplyBytesMax >> 10) KiB, the most one answer carries; narrow it with WHERE or LIMIT"
        }
        return .sql(results, error: message)
    }

    var isEmpty: Bool { pairs().isEmpty }

    /// Every stored key and value, in key order.
    func pairs() -> [(key: [UInt8], value: [UInt8])] {
        let transaction = database.store.begin(.snapshot)
        defer { database.store.rollback(transaction) }
        return (try? transaction.scan(from: [0], to: nil)) ?? []
    }

    /// Replaces the database with one holding `pairs`.
    func restore(_ pairs: [(key: [UInt8], value: [UInt8])]) throws(DecodeError) {
        let backend = MemoryBackend()
        var timestamp: Timestamp = 1
        var batch: [KeyWrite] = []
        var batchBytes = 0
        func flush() throws(DecodeError) {
            guard !batch.isEmpty else { return }
            do { try backend.apply(batch, at: timestamp) } catch { throw .invalid("SQL snapshot data: \(error)") }
            timestamp += 1
            batch = []
            batchBytes = 0
        }
        for pair in pairs {
            if batchBytes + pair.key.count + pair.value.count > backend.limits.batchBytesMax / 2 { try flush() }
            batch.append(KeyWrite(key: pair.key, value: pair.value))
            batchBytes += pair.key.count + pair.value.count + 16
        }
        try flush()
        database = SQLReplica.emptyDatabase(backend)
    }
}
