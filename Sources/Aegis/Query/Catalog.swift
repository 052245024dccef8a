/// The schema: tables, their columns and constraints, and indexes. It changes only by
/// DDL statements applied in order (on every replica alike), checks each one the way
/// SQLite would, and encodes to bytes for the log and for snapshots. DEFAULT and CHECK
/// expressions are kept as canonical SQL text (`SQLPrinter`).
public struct Catalog: Equatable, Sendable {
    public struct Column: Equatable, Sendable {
        /// As compared: unquoted names are lower-cased.
        public var name: String
        public var type: TypeName
        public var notNull: Bool
        public var defaultSQL: String?
        public var checkSQL: String?
    }

    public struct Table: Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var columns: [Column]
        /// Column positions of the primary key; empty: rows are keyed by a hidden row id.
        public var primaryKey: [Int]
        public var uniqueConstraints: [[Int]]
        public var checks: [String]
        /// Rows are stored under one of this many hash buckets of their primary key
        /// (`PRIMARY KEY … USING HASH`), so keys that come in order (ids counting up)
        /// spread over the key space, and over the shards; 0: stored in key order.
        public var hashBuckets = 0

        public func columnIndex(_ name: String) -> Int? { columns.firstIndex { $0.name == name } }
    }

    public struct Index: Equatable, Sendable {
        public var id: UInt32
        public var name: String
        public var table: String
        public var columns: [Int]
        public var unique: Bool
    }

    /// Sorted by name (never hash order), so equal catalogs encode to equal bytes.
    public internal(set) var tables: [Table] = []
    public internal(set) var indexes: [Index] = []
    public internal(set) var nextID: UInt32 = 1

    public init() {}

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }
    public func index(_ name: String) -> Index? { indexes.first { $0.name == name } }
    public func indexes(on table: String) -> [Index] { indexes.filter { $0.table == table } }

    // MARK: DDL

    /// Applies one DDL statement; anything else is a programming error of the caller.
    public mutating func apply(_ statement: Statement) throws(SQLError) {
        switch statement {
        case let .createTable(name, ifNotExists, columns, constraints):
            try createTable(name, ifNotExists: ifNotExists, columns, constraints)
        case let .dropTable(name, ifExists):
            guard table(name.normalized) != nil else {
                if ifExists { return }
                throw missingTable(name)
            }
            tables.removeAll { $0.name == name.normalized }
            indexes.removeAll { $0.table == name.normalized }
        case let .alterTable(name, action):
            try alter(name, action)
        case let .createIndex(name, tableName, columns, unique, ifNotExists):
            if index(name.normalized) != nil || table(name.normalized) != nil {
                if ifNotExists { return }
                throw SQLError(.name, "there is already an index or table named \(name.text)", at: name.position, length: name.text.count)
            }
            guard let table = table(tableName.normalized) else { throw missingTable(tableName) }
            var positions: [Int] = []
            for column in columns {
                guard let position = table.columnIndex(column.normalized) else { throw missingColumn(column, in: table) }
                guard !positions.contains(position) else {
                    throw SQLError(.name, "column \(column.text) appears twice in the index", at: column.position, length: column.text.count)
                }
                positions.append(position)
            }
            indexes.append(Index(id: takeID(), name: name.normalized, table: table.name, columns: positions, unique: unique))
            indexes.sort { $0.name < $1.name }
        case let .dropIndex(name, ifExists):
            guard index(name.normalized) != nil else {
                if ifExists { return }
                throw SQLError(.name, "there is no index named \(name.text)", at: name.position, length: name.text.count)
            }
            indexes.removeAll { $0.name == name.normalized }
        default:
            preconditionFailure("Catalog.apply takes DDL only")
        }
    }

    private mutating func takeID() -> UInt32 {
        defer { nextID += 1 }
        return nextID
    }

    private func missingTable(_ name: Name) -> SQLError {
        SQLError(.name, "there is no table named \(name.text)", at: name.position, length: name.text.count)
    }

    private func missingColumn(_ name: Name, in table: Table) -> SQLError {
        SQLError(.name, "table \(table.name) has no column \(name.text); its columns are \(table.columns.map(\.name).joined(separator: ", "))",
            at: name.position, length: name.text.count)
    }

    /// A DEFAULT must be a constant: evaluated once here to prove it.
    private func checkDefault(_ expression: Expression, of column: Name) throws(SQLError) -> String {
        do {
            _ = try Evaluator.evaluate(expression, EvaluationContext())
        } catch {
            throw SQLError(.syntax, "the DEFAULT of \(column.text) must be a constant value (\(error.message))", at: column.position, length: column.text.count)
        }
        return SQLPrinter.print(expression)
    }

    private mutating func createTable(_ name: Name, ifNotExists: Bool, _ definitions: [ColumnDefinition],
                                      _ constraints: [TableConstraint]) throws(SQLError) {
        if table(name.normalized) != nil || index(name.normalized) != nil {
            if ifNotExists { return }
            throw SQLError(.name, "there is already a table or index named \(name.text)", at: name.position, length: name.text.count)
        }
        guard !definitions.isEmpty else { throw SQLError(.syntax, "a table needs at least one column", at: name.position) }
        var table = Table(id: 0, name: name.normalized, columns: [], primaryKey: [], uniqueConstraints: [], checks: [])
        for definition in definitions {
            guard table.columnIndex(definition.name.normalized) == nil else {
                throw SQLError(.name, "column \(definition.name.text) is defined twice", at: definition.name.position, length: definition.name.text.count)
            }
            let position = table.columns.count
            table.columns.append(Column(name: definition.name.normalized, type: definition.type, notNull: definition.notNull,
                defaultSQL: try definition.defaultValue.map { expression throws(SQLError) in try checkDefault(expression, of: definition.name) },
                checkSQL: definition.check.map(SQLPrinter.print)))
            if definition.primaryKey {
                guard table.primaryKey.isEmpty else {
                    throw SQLError(.syntax, "table \(name.text) has more than one PRIMARY KEY", at: definition.name.position, length: definition.name.text.count)
                }
                table.primaryKey = [position]
            }
            if definition.unique { table.uniqueConstraints.append([position]) }
            if let buckets = definition.hashBuckets { table.hashBuckets = buckets }
        }
        for constraint in constraints {
            switch constraint {
            case let .primaryKey(names):
                guard table.primaryKey.isEmpty else {
                    throw SQLError(.syntax, "table \(name.text) has more than one PRIMARY KEY", at: names[0].position, length: names[0].text.count)
                }
                table.primaryKey = try positions(names, in: table)
            case let .unique(names):
                table.uniqueConstraints.append(try positions(names, in: table))
            case let .check(expression):
                table.checks.append(SQLPrinter.print(expression))
            case let .hashPartitioned(buckets):
                table.hashBuckets = buckets
            }
        }
        // Primary key columns hold no NULLs (standard SQL; SQLite allows them, a legacy bug).
        for position in table.primaryKey { table.columns[position].notNull = true }
        table.id = takeID()
        tables.append(table)
        tables.sort { $0.name < $1.name }
    }

    private func positions(_ names: [Name], in table: Table) throws(SQLError) -> [Int] {
        var positions: [Int] = []
        for column in names {
            guard let position = table.columnIndex(column.normalized) else { throw missingColumn(column, in: table) }
            guard !positions.contains(position) else {
                throw SQLError(.name, "column \(column.text) appears twice in the constraint", at: column.position, length: column.text.count)
            }
            positions.append(position)
        }
        return positions
    }

    private mutating func alter(_ name: Name, _ action: AlterAction) throws(SQLError) {
        guard let tablePosition = tables.firstIndex(where: { $0.name == name.normalized }) else { throw missingTable(name) }
        var table = tables[tablePosition]
        switch action {
        case let .addColumn(definition):
            guard table.columnIndex(definition.name.normalized) == nil else {
                throw SQLError(.name, "table \(table.name) already has a column \(definition.name.text)", at: definition.name.position, length: definition.name.text.count)
            }
            guard !definition.primaryKey, !definition.unique else {
                throw SQLError(.syntax, "ALTER TABLE ADD COLUMN cannot add a PRIMARY KEY or UNIQUE column; create an index instead",
                    at: definition.name.position, length: definition.name.text.count)
            }
            let defaultSQL = try definition.defaultValue.map { expression throws(SQLError) in try checkDefault(expression, of: definition.name) }
            if definition.notNull, defaultSQL == nil || definition.defaultValue == .literal(.null) {
                throw SQLError(.constraint, "a NOT NULL column added to a table needs a non-NULL DEFAULT for the rows already there",
                    at: definition.name.position, length: definition.name.text.count)
            }
            table.columns.append(Column(name: definition.name.normalized, type: definition.type, notNull: definition.notNull,
                defaultSQL: defaultSQL, checkSQL: definition.check.map(SQLPrinter.print)))
        case let .dropColumn(column):
            guard let position = table.columnIndex(column.normalized) else { throw missingColumn(column, in: table) }
            guard table.columns.count > 1 else {
                throw SQLError(.constraint, "cannot drop \(column.text): it is the table's only column", at: column.position, length: column.text.count)
            }
            guard !table.primaryKey.contains(position), !table.uniqueConstraints.contains(where: { $0.contains(position) }) else {
                throw SQLError(.constraint, "cannot drop \(column.text): it is part of the primary key or a UNIQUE constraint", at: column.position, length: column.text.count)
            }
            if let index = self.indexes(on: table.name).first(where: { $0.columns.contains(position) }) {
                throw SQLError(.constraint, "cannot drop \(column.text): index \(index.name) uses it; drop the index first", at: column.position, length: column.text.count)
            }
            if table.checks.contains(where: { Catalog.mentions($0, column: column.normalized) }) {
                throw SQLError(.constraint, "cannot drop \(column.text): a CHECK constraint uses it", at: column.position, length: column.text.count)
            }
            table.columns.remove(at: position)
            func shift(_ list: [Int]) -> [Int] { list.map { $0 > position ? $0 - 1 : $0 } }
            table.primaryKey = shift(table.primaryKey)
            table.uniqueConstraints = table.uniqueConstraints.map(shift)
            for index in indexes.indices where indexes[index].table == table.name { indexes[index].columns = shift(indexes[index].columns) }
        case let .renameColumn(old, new):
            guard let position = table.columnIndex(old.normalized) else { throw missingColumn(old, in: table) }
            guard table.columnIndex(new.normalized) == nil else {
                throw SQLError(.name, "table \(table.name) already has a column \(new.text)", at: new.position, length: new.text.count)
            }
            table.columns[position].name = new.normalized
            table.checks = table.checks.map { Catalog.renaming($0, column: old.normalized, to: new) }
            for index in table.columns.indices {
                table.columns[index].checkSQL = table.columns[index].checkSQL.map { Catalog.renaming($0, column: old.normalized, to: new) }
            }
        case let .renameTable(new):
            guard self.table(new.normalized) == nil, self.index(new.normalized) == nil else {
                throw SQLError(.name, "there is already a table or index named \(new.text)", at: new.position, length: new.text.count)
            }
            for index in indexes.indices where indexes[index].table == table.name { indexes[index].table = new.normalized }
            table.name = new.normalized
        }
        tables[tablePosition] = table
        tables.sort { $0.name < $1.name }
    }

    // MARK: stored expressions

    /// A stored expression back as a tree (it was printed by `SQLPrinter`, so it parses).
    public static func expression(_ sql: String) -> Expression {
        guard case let .select(select)? = try? Parser.parseOne("SELECT " + sql),
              case let .expression(expression, _) = select.first.columns.first else {
            preconditionFailure("a stored expression does not parse: \(sql)")
        }
        return expression
    }

    static func mentions(_ sql: String, column: String) -> Bool {
        var found = false
        Catalog.walk(expression(sql)) { node in
            if case let .column(_, name) = node, name.normalized == column { found = true }
            return node
        }
        return found
    }

    static func renaming(_ sql: String, column: String, to new: Name) -> String {
        SQLPrinter.print(walk(expression(sql)) { node in
            if case let .column(table, name) = node, name.normalized == column { return .column(table: table, name: new) }
            return node
        })
    }

    /// Rebuilds an expression bottom-up through `transform` (subqueries are left as they are).
    @discardableResult
    static func walk(_ expression: Expression, _ transform: (Expression) -> Expression) -> Expression {
        transform(expression.mappingChildren { walk($0, transform) })
    }
}
