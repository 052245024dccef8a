/// Reading tables: the rows of a table, in primary key order, from the statement's
/// transaction, all of them or a key range; or the rows an index range points at.

/// Reads through one transaction, in chunks, so a scan never holds a whole table.
final class RowSource {
    let transaction: Transaction
    static let chunkRows = 1024

    init(_ transaction: Transaction) { self.transaction = transaction }

    func scan(from start: [UInt8], to end: [UInt8]?, limit: Int = RowSource.chunkRows) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] {
        do { return try transaction.scan(from: start, to: end, limit: limit) } catch { throw SQLError(error) }
    }

    /// The same rows packed, for table scans.
    func scanChunk(from start: [UInt8], to end: [UInt8]?, limit: Int = RowSource.chunkRows) throws(SQLError) -> ScanChunk {
        do { return try transaction.scanChunk(from: start, to: end, limit: limit) } catch { throw SQLError(error) }
    }

    func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]? {
        do { return try transaction.get(key) } catch { throw SQLError(error) }
    }
}

/// A table as the executor reads it: the catalog's description plus the values a row
/// written before a later ADD COLUMN takes for the newer columns.
struct TableShape {
    let table: Catalog.Table
    let defaults: [SQLValue]
    let affinities: [ColumnAffinity]

    init(_ table: Catalog.Table) {
        self.table = table
        defaults = table.columns.map { column in
            column.defaultSQL.flatMap { try? Evaluator.evaluate(Catalog.expression($0), EvaluationContext()) } ?? .null
        }
        affinities = table.columns.map { ColumnAffinity($0.type) }
    }

    var prefix: [UInt8] { RowLayout.tablePrefix(table.id) }
    var hasRowID: Bool { table.primaryKey.isEmpty }
    /// Bytes of a row's storage key before its primary key: the table prefix, then the
    /// bucket of a hash-partitioned table.
    var keyOffset: Int { prefix.count + (table.hashBuckets > 0 ? 1 : 0) }

    /// Where the row with primary key bytes `key` is stored.
    func storageKey<Key: Collection<UInt8>>(_ key: Key) -> [UInt8] {
        var bytes = prefix
        bytes.reserveCapacity(bytes.count + 1 + key.count)
        if table.hashBuckets > 0 { bytes.append(TableShape.bucket(of: key, buckets: table.hashBuckets)) }
        bytes.append(contentsOf: key)
        return bytes
    }

    /// A hash-partitioned row's bucket: a stable hash of its primary key bytes, so every
    /// process on every machine puts a row in the same one.
    static func bucket<Key: Collection<UInt8>>(of key: Key, buckets: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: StableHash64.digest(key) % UInt64(buckets))
    }

    func row(from bytes: [UInt8], needed: [Bool]? = nil) throws(SQLError) -> [SQLValue] {
        try row(from: bytes[...], needed: needed)
    }

    func row(from bytes: ArraySlice<UInt8>, needed: [Bool]? = nil) throws(SQLError) -> [SQLValue] {
        var row = try RowLayout.decode(bytes, needed: needed)
        if row.count < defaults.count { row.append(contentsOf: defaults[row.count...]) }
        guard row.count == defaults.count else { throw damaged(storedCount: row.count) }
        return row
    }

    /// Columns `projection` of the row, in that order (`slots`: each stored column's
    /// place in it, -1 for none).
    func row(from bytes: ArraySlice<UInt8>, projection: [Int], slots: [Int]) throws(SQLError) -> [SQLValue] {
        var (row, storedCount) = try RowLayout.decode(bytes, slots: slots, width: projection.count)
        if storedCount < defaults.count {
            // Stored before an ADD COLUMN: the newer columns take their defaults.
            for (slot, column) in projection.enumerated() where column >= storedCount { row[slot] = defaults[column] }
        }
        guard storedCount <= defaults.count else { throw damaged(storedCount: storedCount) }
        return row
    }

    private func damaged(storedCount: Int) -> SQLError {
        SQLError(.storage, "a stored row of \(table.name) has \(storedCount) values for \(defaults.count) columns; the data is damaged")
    }
}

/// SQLite's column affinity: what a stored value is converted to, and how a column
/// compares.
enum ColumnAffinity: Sendable {
    case integer, real, numeric, text, none

    init(_ type: TypeName) {
        switch type {
        case .integer, .bigint: self = .integer
        case .real, .double: self = .real
        case .decimal, .boolean, .date, .timestamp: self = .numeric
        case .text, .varchar: self = .text
        case .blob: self = .none
        }
    }

    var comparison: Evaluator.Affinity? {
        switch self {
        case .integer, .real, .numeric: return .numeric
        case .text: return .text
        case .none: return nil
        }
    }

    /// The value as the column stores it.
    /// Whether `apply` leaves `value` as it is (answered without building anything).
    @inline(__always)
    func keeps(_ value: SQLValue) -> Bool {
        switch (self, value) {
        case (.none, _), (_, .null), (.integer, .integer), (.numeric, .integer), (.real, .real), (.text, .text): return true
        default: return false
        }
    }

    func apply(_ value: SQLValue) -> SQLValue {
        switch self {
        case .none:
            return value
        case .text:
            return Evaluator.textAffinity(value)
        case .real:
            switch Evaluator.numericAffinity(value) {
            case let .integer(number): return .real(Double(number))
            case let converted: return converted
            }
        case .integer, .numeric:
            let converted = Evaluator.numericAffinity(value)
            if case let .real(number) = converted, number.rounded() == number, abs(number) < 9.2e18 { return .integer(Int64(number)) }
            return converted
        }
    }
}

/// A range of keys to read: values for the leading key columns, then optional bounds on
/// the next one. Expressions are evaluated at open time against the probe row (the outer
/// row of an index join; empty otherwise), converted by the column's affinity first.
struct KeyRange {
    var equal: [Expression] = []
    var equalAffinities: [ColumnAffinity] = []
    var lower: (value: Expression, inclusive: Bool)?
    var upper: (value: Expression, inclusive: Bool)?
    var boundAffinity: ColumnAffinity = .none

    /// Whether the range pins every column of a unique key (at most one row).
    var isPoint = false

    /// The keys to scan under `prefix`, or nil when no row can match (a NULL compared).
    func resolve(under prefix: [UInt8], _ run: QueryRun, probe: [SQLValue]) throws(SQLError) -> (start: [UInt8], end: [UInt8]?)? {
        var start = prefix
        for (expression, affinity) in zip(equal, equalAffinities) {
            let value = affinity.apply(try run.evaluate(expression, probe))
            if value.isNull { return nil }
            KeyEncoding.append(value, to: &start)
        }
        let base = start
        var end = RowLayout.successor(base)
        if let lower {
            let value = boundAffinity.apply(try run.evaluate(lower.value, probe))
            if value.isNull { return nil }
            var key = base
            KeyEncoding.append(value, to: &key)
            start = lower.inclusive ? key : (RowLayout.successor(key) ?? key)
        } else if upper != nil {
            // Skip NULLs: no comparison with a bound holds for them.
            var key = base
            KeyEncoding.append(.null, to: &key)
            start = RowLayout.successor(key) ?? key
        }
        if let upper {
            let value = boundAffinity.apply(try run.evaluate(upper.value, probe))
            if value.isNull { return nil }
            var key = base
            KeyEncoding.append(value, to: &key)
            end = upper.inclusive ? RowLayout.successor(key) : key
        }
        return (start, end)
    }

    /// The range as EXPLAIN shows it, probe-row values named by `names`.
    func description(_ names: [String]) -> String {
        func show(_ expression: Expression) -> String { SQLPrinter.print(PlanNode.naming(expression, names)) }
        var parts = equal.map { "= " + show($0) }
        if let lower { parts.append((lower.inclusive ? ">= " : "> ") + show(lower.value)) }
        if let upper { parts.append((upper.inclusive ? "<= " : "< ") + show(upper.value)) }
        return parts.joined(separator: ", ")
    }
}

/// How a table is read: every row, a primary key range, or an index range.
enum AccessPath {
    case full
    case primaryKey(KeyRange)
    case index(Catalog.Index, KeyRange)

    var isFull: Bool { if case .full = self { return true } else { return false } }
}

final class TableScanNode: PlanNode {
    let shape: TableShape
    let alias: String
    let access: AccessPath
    /// Conditions on this table's row, checked for every row read.
    let filter: Expression?
    /// Rows read ahead: a scan's chunk, or the one row of a point read. Touched for
    /// every row, by this class alone: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var buffer = ScanChunk()
    @exclusivity(unchecked) private var position = 0
    private var nextStart: [UInt8]?
    private var end: [UInt8]?
    private var exhausted = true
    /// The primary key bytes (without the table prefix) of the row `next()` gave last.
    var currentKey: [UInt8] {
        if case .index = access { return Array(buffer.value(position - 1)) }
        return Array(buffer.key(position - 1).dropFirst(shape.keyOffset))
    }
    /// Which columns the query reads (nil: all); the others are not decoded.
    var neededColumns: [Bool]?
    /// Set by a projection of plain columns above an unfiltered scan: rows come out as
    /// just these columns, in this order, decoded straight from the stored bytes.
    var projection: [Int]? {
        didSet {
            projectionSlots = []
            guard let projection else { return }
            projectionSlots = [Int](repeating: -1, count: shape.defaults.count)
            for (slot, column) in projection.enumerated() { projectionSlots[column] = slot }
        }
    }
    /// For each stored column, its place in the projected row (-1: not read).
    private var projectionSlots: [Int] = []
    /// For EXPLAIN: the names of the probe row's values (an index join's outer row).
    var probeNames: [String] = []
    override var outputNames: [String] { shape.table.columns.map { alias + "." + $0.name } }

    init(_ shape: TableShape, alias: String, access: AccessPath, filter: Expression?, estimatedRows: Double) {
        self.shape = shape
        self.alias = alias
        self.access = access
        self.filter = filter
        super.init()
        self.estimatedRows = estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        try open(run, probe: [])
    }

    /// Starts reading the rows that match `probe` (the outer row of an index join).
    func open(_ run: QueryRun, probe: [SQLValue]) throws(SQLError) {
        self.run = run
        buffer = ScanChunk()
        position = 0
        exhausted = false
        let range: (start: [UInt8], end: [UInt8]?)?
        switch access {
        case .full:
            range = (shape.prefix, RowLayout.successor(shape.prefix))
        case let .primaryKey(keys):
            range = try keys.resolve(under: shape.prefix, run, probe: probe)
            if let range, keys.isPoint {
                // One row at most: a point read, not a scan.
                exhausted = true
                let key = shape.table.hashBuckets > 0 ? shape.storageKey(range.start.dropFirst(shape.prefix.count)) : range.start
                if let value = try run.tables.get(key) { buffer = ScanChunk([(key, value)]) }
                return
            }
        case let .index(index, keys):
            range = try keys.resolve(under: RowLayout.indexPrefix(index.id), run, probe: probe)
        }
        guard let range else {
            exhausted = true
            return
        }
        nextStart = range.start
        end = range.end
    }

    private func refill() throws(SQLError) {
        guard !exhausted, let run, let start = nextStart else {
            exhausted = true
            return
        }
        buffer = try run.tables.scanChunk(from: start, to: end)
        position = 0
        if buffer.count < RowSource.chunkRows {
            exhausted = true
        } else {
            nextStart = Array(buffer.key(buffer.count - 1)) + [0]
        }
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run else { return nil }
        while true {
            if position == buffer.count {
                if exhausted { return nil }
                try refill()
                if buffer.isEmpty { return nil }
            }
            let value = buffer.value(position)
            position += 1
            let bytes: ArraySlice<UInt8>
            if case .index = access {
                // An index entry's value is the row's primary key.
                guard let stored = try run.tables.get(shape.storageKey(value)) else {
                    throw SQLError(.storage, "an index entry of \(shape.table.name) points at a missing row; the data is damaged")
                }
                bytes = stored[...]
            } else {
                bytes = value
            }
            if let projection { return try shape.row(from: bytes, projection: projection, slots: projectionSlots) }
            let row = try shape.row(from: bytes, needed: neededColumns)
            if try run.holds(filter, row) { return row }
        }
    }

    override var explanation: String {
        let name = alias == shape.table.name ? alias : "\(shape.table.name) AS \(alias)"
        var text: String
        switch access {
        case .full: text = "SCAN \(name)" + (shape.table.hashBuckets > 0 ? " (\(shape.table.hashBuckets) HASH BUCKETS)" : "")
        case let .primaryKey(keys): text = (keys.isPoint ? "GET \(name) BY PRIMARY KEY (" : "SEARCH \(name) BY PRIMARY KEY (") + keys.description(probeNames) + ")"
        case let .index(index, keys): text = "SEARCH \(name) USING INDEX \(index.name) (" + keys.description(probeNames) + ")"
        }
        if let filter { text += " WHERE " + show(filter, outputNames) }
        if let neededColumns, neededColumns.contains(false) {
            let names = neededColumns.indices.filter { neededColumns[$0] }.map { shape.table.columns[$0].name }
            text += " READING " + (names.isEmpty ? "no columns" : names.joined(separator: ", "))
        }
        return text + " (~\(Int(estimatedRows.rounded())) rows)"
    }
}
