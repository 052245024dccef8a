/// A SQL database on an MVCC store: the catalog kept in the store beside the rows (so
/// it commits, rolls back and replicates with them), sessions that run statements in
/// transactions, and prepared statements.

/// What a statement gives back.
public struct QueryResult: Equatable, Sendable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    public var rowsAffected: Int

    public init(columns: [String] = [], rows: [[SQLValue]] = [], rowsAffected: Int = 0) {
        self.columns = columns
        self.rows = rows
        self.rowsAffected = rowsAffected
    }
}

public final class SQLDatabase {
    public let store: MVCCStore
    /// Bytes one statement's sorts, hash tables and materialized rows may hold.
    public var memoryBudgetBytes = 512 << 20
    private var cachedCatalog: (bytes: [UInt8], catalog: Catalog, version: Int)?
    private var catalogVersions = 0
    /// Row count estimates by table id, for the planner (counted once, then adjusted).
    private var rowEstimates: [UInt32: Double] = [:]
    static let estimateCountMax = 100_000
    /// When set, every table is planned as holding this many rows (replicas set it, so
    /// their plans cannot differ with what each happened to count).
    public var fixedRowEstimate: Double?

    /// What writing each table needs, for the catalog version it was made from.
    private var tableWritings: [UInt32: (version: Int, writing: TableWriting)] = [:]

    public init(store: MVCCStore) {
        self.store = store
    }

    func writing(_ table: Catalog.Table, _ catalog: Catalog, version: Int) throws(SQLError) -> TableWriting {
        if let cached = tableWritings[table.id], cached.version == version { return cached.writing }
        let writing = try TableWriting(TableShape(table), catalog: catalog)
        tableWritings[table.id] = (version, writing)
        return writing
    }

    public func session() -> SQLSession { SQLSession(self) }

    /// The commit timestamp of the newest transaction (through this database) that
    /// changed the catalog: a catalog read at or after it is every later snapshot's.
    private var lastCatalogCommit: Timestamp = 0
    /// The snapshot the cached catalog was read at.
    private var cachedCatalogReadAt: Timestamp = 0

    func noteCatalogCommit(at timestamp: Timestamp) {
        lastCatalogCommit = max(lastCatalogCommit, timestamp)
    }

    /// The catalog as `transaction` sees it, and a version that changes with it. Every
    /// change to the catalog commits through this database, so a snapshot no older than
    /// the last change sees the cached one: the read is recorded, not repeated.
    func catalog(in tables: RowSource) throws(SQLError) -> (Catalog, Int) {
        let transaction = tables.transaction
        // Only a committed catalog seen by a snapshot no older than the last change is
        // shared; a transaction's own uncommitted one, or an old snapshot's, is not.
        let shareable = !transaction.hasWritten(RowLayout.catalogKey) && transaction.start >= lastCatalogCommit
        if shareable, let cached = cachedCatalog, cachedCatalogReadAt >= lastCatalogCommit {
            transaction.noteRead(RowLayout.catalogKey)
            return (cached.catalog, cached.version)
        }
        let bytes = try tables.get(RowLayout.catalogKey) ?? []
        if let cached = cachedCatalog, cached.bytes == bytes {
            if shareable { cachedCatalogReadAt = max(cachedCatalogReadAt, transaction.start) }
            return (cached.catalog, cached.version)
        }
        let catalog: Catalog
        if bytes.isEmpty {
            catalog = Catalog()
        } else {
            do { catalog = try Catalog.decode(bytes) } catch {
                throw SQLError(.storage, "the stored catalog does not decode (\(error)); the data is damaged")
            }
        }
        catalogVersions += 1
        if shareable {
            cachedCatalog = (bytes, catalog, catalogVersions)
            cachedCatalogReadAt = transaction.start
        }
        return (catalog, catalogVersions)
    }

    func rowEstimate(_ table: Catalog.Table, _ tables: RowSource) -> Double {
        if let fixedRowEstimate { return fixedRowEstimate }
        if let known = rowEstimates[table.id] { return max(1, known) }
        let prefix = RowLayout.tablePrefix(table.id)
        let found = (try? tables.scanChunk(from: prefix, to: RowLayout.successor(prefix), limit: SQLDatabase.estimateCountMax).count) ?? 0
        rowEstimates[table.id] = Double(found)
        return max(1, Double(found))
    }

    func adjustEstimate(_ table: UInt32, by delta: Int) {
        if let known = rowEstimates[table] { rowEstimates[table] = max(0, known + Double(delta)) }
    }

    /// Every table's name (for `GET /api/v1/tables` and the shell).
    public func catalog() throws(SQLError) -> Catalog {
        let transaction = store.begin(.snapshot)
        defer { store.rollback(transaction) }
        return try catalog(in: RowSource(transaction)).0
    }
}

/// A statement parsed once, to run many times with different parameters.
public final class PreparedStatement {
    public let source: String
    public let statement: Statement
    /// The plan of a SELECT, kept while the catalog does not change.
    var plan: (version: Int, plan: QueryPlan)?
    /// An INSERT's table and target columns, kept while the catalog does not change.
    var insertTarget: (version: Int, target: InsertTarget)?

    init(source: String, statement: Statement) {
        self.source = source
        self.statement = statement
    }

    /// The highest `$n` the statement uses.
    public var parameterCount: Int {
        var highest = 0
        for token in (try? Lexer.tokenize(source)) ?? [] {
            if case let .parameter(number) = token.kind { highest = max(highest, number) }
        }
        return highest
    }

    /// Whether running it changes nothing (SELECT, EXPLAIN).
    public var isReadOnly: Bool { statement.isReadOnly }
}

/// One connection's state: the open transaction, if BEGIN started one.
public final class SQLSession {
    public let database: SQLDatabase
    private var transaction: Transaction?
    private var transactionDeltas = RowDeltas()

    init(_ database: SQLDatabase) {
        self.database = database
    }

    public var inTransaction: Bool { transaction != nil }

    /// Rolls back the open transaction, if any (the connection is going away).
    public func abandon() {
        if let open = transaction { database.store.rollback(open) }
        transaction = nil
    }

    public func prepare(_ sql: String) throws(SQLError) -> PreparedStatement {
        PreparedStatement(source: sql, statement: try Parser.parseOne(sql))
    }

    /// Runs every statement in `sql`, in order, and gives each one's result. Stops at the
    /// first error (the statements before it keep their effect, as in SQLite's shell).
    public func execute(_ sql: String, parameters: [SQLValue] = []) throws(SQLError) -> [QueryResult] {
        let (results, error) = executeAll(sql, parameters: parameters)
        if let error { throw error }
        return results
    }

    /// Runs every statement in `sql` until one fails: the results of those that ran,
    /// and the error that stopped the rest.
    public func executeAll(_ sql: String, parameters: [SQLValue] = []) -> ([QueryResult], SQLError?) {
        var results: [QueryResult] = []
        do throws(SQLError) {
            for statement in try Parser.parse(sql) {
                results.append(try execute(PreparedStatement(source: sql, statement: statement), parameters: parameters))
            }
            return (results, nil)
        } catch {
            return (results, error)
        }
    }

    public func execute(_ prepared: PreparedStatement, parameters: [SQLValue] = []) throws(SQLError) -> QueryResult {
        switch prepared.statement {
        case .begin:
            guard transaction == nil else { throw SQLError(.runtime, "a transaction is already open; COMMIT or ROLLBACK it first") }
            transaction = database.store.begin(.serializable)
            transactionDeltas = RowDeltas()
            return QueryResult()
        case .commit:
            guard let open = transaction else { throw SQLError(.runtime, "there is no open transaction to COMMIT; start one with BEGIN") }
            transaction = nil
            try commit(open, deltas: transactionDeltas)
            return QueryResult()
        case .rollback:
            guard let open = transaction else { throw SQLError(.runtime, "there is no open transaction to ROLL BACK; start one with BEGIN") }
            transaction = nil
            database.store.rollback(open)
            return QueryResult()
        default:
            break
        }
        let autocommit = transaction == nil
        let current = transaction ?? database.store.begin(prepared.isReadOnly ? .snapshot : .serializable)
        current.beginStatement()
        let execution = StatementExecution(database: database, tables: RowSource(current), parameters: parameters, source: prepared.source)
        do {
            let result = try execution.run(prepared)
            current.endStatement()
            if autocommit {
                try commit(current, deltas: execution.rowDeltas)
            } else {
                transactionDeltas.add(execution.rowDeltas)
            }
            return result
        } catch {
            current.undoStatement()
            if autocommit { database.store.rollback(current) }
            throw error
        }
    }

    private func commit(_ transaction: Transaction, deltas: RowDeltas) throws(SQLError) {
        do {
            let timestamp = try database.store.commit(transaction)
            if transaction.hasWritten(RowLayout.catalogKey) { database.noteCatalogCommit(at: timestamp) }
        } catch {
            throw SQLError(error)
        }
        for (table, delta) in deltas.entries { database.adjustEstimate(table, by: delta) }
    }
}

/// An INSERT's table and the column each of its values goes to.
final class InsertTarget {
    let writing: TableWriting
    let columns: [Int]
    /// Whether its rows come from a plan (not constants and parameters).
    let planned: Bool
    /// Whether it gives every column, in the table's order.
    let coversTableInOrder: Bool
    /// Rows of constants and parameters (nil when the rows come from a plan), each
    /// with one value per target column.
    let valueRows: [[Expression]]?

    init(writing: TableWriting, columns: [Int], planned: Bool, valueRows: [[Expression]]?) {
        self.writing = writing
        self.columns = columns
        self.planned = planned
        self.valueRows = valueRows
        coversTableInOrder = columns == Array(writing.shape.defaults.indices)
    }
}

/// Rows added (+) and removed (−) per table, for the planner's row estimates: a short
/// list in table order (a statement writes one table, a transaction a few).
struct RowDeltas {
    private(set) var entries: [(table: UInt32, delta: Int)] = []

    mutating func add(_ table: UInt32, _ delta: Int) {
        guard delta != 0 else { return }
        let position = entries.firstIndex { $0.table >= table } ?? entries.count
        if position == entries.count {
            entries.append((table, delta))
        } else if entries[position].table == table {
            entries[position].delta += delta
        } else {
            entries.insert((table, delta), at: position)
        }
    }

    mutating func add(_ other: RowDeltas) {
        for (table, delta) in other.entries { add(table, delta) }
    }
}
