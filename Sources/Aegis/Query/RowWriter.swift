/// Writing rows of one table inside a transaction: values converted to the columns'
/// affinities, NOT NULL and CHECK constraints checked, the primary key and every UNIQUE
/// constraint and unique index kept unique, and index entries kept in step with rows.
final class RowWriter {
    let parts: TableWriting
    let tables: RowSource
    /// Rows written (+) and removed (−), for the planner's row estimates.
    private(set) var rowDelta = 0

    /// A conflict with an existing row: which constraint, and that row's primary key.
    struct Conflict: Error {
        var constraint: String
        var columns: [Int]
        var existingKey: [UInt8]
    }

    init(_ parts: TableWriting, tables: RowSource) {
        self.parts = parts
        self.tables = tables
    }

    var shape: TableShape { parts.shape }
    var table: Catalog.Table { parts.shape.table }
    var indexes: [Catalog.Index] { parts.indexes }

    /// The row as stored: each value converted by its column's affinity, then checked.
    /// `run` evaluates CHECKs; it is asked for only when the table has some.
    func prepare(_ row: inout [SQLValue], _ run: @autoclosure () -> QueryRun) throws(SQLError) {
        for index in row.indices where !parts.shape.affinities[index].keeps(row[index]) {
            row[index] = parts.shape.affinities[index].apply(row[index])
        }
        for index in parts.notNullColumns where row[index].isNull {
            throw SQLError(.constraint, "NOT NULL constraint failed: \(table.name).\(table.columns[index].name) cannot be NULL")
        }
        if !parts.checks.isEmpty {
            let run = run()
            for check in parts.checks where try run.evaluate(check.predicate, row).truth == false {
                throw SQLError(.constraint, "CHECK constraint failed on \(table.name): \(check.text)")
            }
        }
    }

    /// The primary key bytes (without the table prefix) of a new row.
    func newKey(for row: [SQLValue]) throws(SQLError) -> [UInt8] {
        if parts.shape.hasRowID {
            let counterKey = RowLayout.rowIDKey(table.id)
            var next: Int64 = 1
            if let stored = try tables.get(counterKey), stored.count == 8 {
                next = stored.reduce(Int64(0)) { $0 << 8 | Int64($1) }
            }
            var bytes: [UInt8] = []
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: (next + 1) >> Int64(shift))) }
            try put(counterKey, bytes)
            return KeyEncoding.key([.integer(next)])
        }
        var key: [UInt8] = []
        key.reserveCapacity(16)
        for column in parts.shape.table.primaryKey { KeyEncoding.append(row[column], to: &key) }
        return key
    }

    /// The key a row with primary key bytes `key` is stored under.
    func rowKey(_ key: [UInt8]) -> [UInt8] {
        guard parts.shape.table.hashBuckets == 0 else { return parts.shape.storageKey(key) }
        var bytes = parts.prefix
        bytes.reserveCapacity(parts.prefix.count + key.count)
        bytes.append(contentsOf: key)
        return bytes
    }

    /// The stored row under `key`, if any.
    func existing(_ key: [UInt8]) throws(SQLError) -> [SQLValue]? {
        guard let bytes = try tables.get(rowKey(key)) else { return nil }
        return try parts.shape.row(from: bytes)
    }

    /// Finds the first uniqueness conflict `row` (to be stored under `key`) would cause.
    func conflict(_ row: [SQLValue], key: [UInt8]) throws(SQLError) -> Conflict? {
        try conflict(row, key: key, rowKey: rowKey(key))
    }

    private func conflict(_ row: [SQLValue], key: [UInt8], rowKey: [UInt8]) throws(SQLError) -> Conflict? {
        if !parts.shape.hasRowID, try tables.get(rowKey) != nil {
            return Conflict(constraint: "PRIMARY KEY", columns: table.primaryKey, existingKey: key)
        }
        for (ordinal, columns) in table.uniqueConstraints.enumerated() {
            let values = columns.map { row[$0] }
            guard !values.contains(where: \.isNull) else { continue }
            if let other = try tables.get(RowLayout.uniquePrefix(table.id, ordinal) + KeyEncoding.key(values)), other != key {
                return Conflict(constraint: "UNIQUE (" + columns.map { table.columns[$0].name }.joined(separator: ", ") + ")", columns: columns, existingKey: other)
            }
        }
        for index in parts.indexes where index.unique {
            let values = index.columns.map { row[$0] }
            guard !values.contains(where: \.isNull) else { continue }
            let prefix = RowLayout.indexPrefix(index.id) + KeyEncoding.key(values)
            for entry in try tables.scan(from: prefix, to: RowLayout.successor(prefix), limit: 2) where entry.value != key {
                return Conflict(constraint: "UNIQUE index \(index.name)", columns: index.columns, existingKey: entry.value)
            }
        }
        return nil
    }

    static func describe(_ conflict: Conflict, in table: Catalog.Table) -> SQLError {
        let columns = conflict.columns.map { table.name + "." + table.columns[$0].name }.joined(separator: ", ")
        return SQLError(.constraint, "\(conflict.constraint) constraint failed: \(columns) already holds these values")
    }

    /// Stores `row` under `key` with its index and uniqueness entries (checked first).
    func insert(_ row: [SQLValue], key: [UInt8]) throws(SQLError) {
        let rowKey = rowKey(key)
        if let conflict = try conflict(row, key: key, rowKey: rowKey) { throw RowWriter.describe(conflict, in: table) }
        try put(rowKey, RowLayout.encode(row))
        for (ordinal, columns) in table.uniqueConstraints.enumerated() {
            let values = columns.map { row[$0] }
            if !values.contains(where: \.isNull) { try put(RowLayout.uniquePrefix(table.id, ordinal) + KeyEncoding.key(values), key) }
        }
        for index in parts.indexes {
            try put(RowLayout.indexPrefix(index.id) + KeyEncoding.key(index.columns.map { row[$0] }) + key, key)
        }
        rowDelta += 1
    }

    /// Removes `row` (stored under `key`) and its entries.
    func delete(_ row: [SQLValue], key: [UInt8]) throws(SQLError) {
        try remove(rowKey(key))
        for (ordinal, columns) in table.uniqueConstraints.enumerated() {
            let values = columns.map { row[$0] }
            if !values.contains(where: \.isNull) { try remove(RowLayout.uniquePrefix(table.id, ordinal) + KeyEncoding.key(values)) }
        }
        for index in parts.indexes {
            try remove(RowLayout.indexPrefix(index.id) + KeyEncoding.key(index.columns.map { row[$0] }) + key)
        }
        rowDelta -= 1
    }

    /// Replaces `old` (under `oldKey`) with `new`; returns the new row's key.
    @discardableResult
    func update(_ old: [SQLValue], key oldKey: [UInt8], to new: [SQLValue]) throws(SQLError) -> [UInt8] {
        let newKey = parts.shape.hasRowID ? oldKey : try self.newKey(for: new)
        try delete(old, key: oldKey)
        try insert(new, key: newKey)
        return newKey
    }

    private func put(_ key: [UInt8], _ value: [UInt8]) throws(SQLError) {
        do { try tables.transaction.put(key, value) } catch { throw SQLError(error) }
    }

    private func remove(_ key: [UInt8]) throws(SQLError) {
        do { try tables.transaction.delete(key) } catch { throw SQLError(error) }
    }
}

/// What writing rows of one table needs that stays the same until the catalog changes:
/// its shape, bound CHECKs, indexes and key prefix. Made once per catalog version and
/// shared by every statement that writes the table.
final class TableWriting {
    let shape: TableShape
    let checks: [(text: String, predicate: Expression)]
    let indexes: [Catalog.Index]
    let prefix: [UInt8]
    let notNullColumns: [Int]

    init(_ shape: TableShape, catalog: Catalog) throws(SQLError) {
        self.shape = shape
        checks = try TableWriting.boundChecks(shape, catalog)
        indexes = catalog.indexes(on: shape.table.name)
        prefix = shape.prefix
        notNullColumns = shape.table.columns.indices.filter { shape.table.columns[$0].notNull }
    }

    /// The table's CHECK constraints bound to its row.
    private static func boundChecks(_ shape: TableShape, _ catalog: Catalog) throws(SQLError) -> [(text: String, predicate: Expression)] {
        let planner = Planner(catalog: catalog, source: "", rowEstimate: { _ in 1 })
        let scope = Scope(shape.table.columns.enumerated().map { ScopeColumn(table: shape.table.name, name: $1.name, affinity: shape.affinities[$0]) },
                          parent: nil, level: 0)
        var checks: [(String, Expression)] = []
        for text in shape.table.checks + shape.table.columns.compactMap(\.checkSQL) {
            checks.append((text, try planner.bindNames(Catalog.expression(text), scope, aggregates: .forbidden("CHECK"))))
        }
        return checks
    }
}
