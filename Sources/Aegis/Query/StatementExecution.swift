/// Running one statement inside a transaction: SELECT and EXPLAIN through the planner,
/// INSERT (with ON CONFLICT), UPDATE and DELETE through `RowWriter`, and DDL through
/// the catalog, which is written back to the store in the same transaction.
final class StatementExecution {
    let database: SQLDatabase
    let tables: RowSource
    let parameters: [SQLValue]
    let source: String
    private(set) var rowDeltas = RowDeltas()

    init(database: SQLDatabase, tables: RowSource, parameters: [SQLValue], source: String) {
        self.database = database
        self.tables = tables
        self.parameters = parameters
        self.source = source
    }

    private var catalogVersion = 0

    func run(_ prepared: PreparedStatement) throws(SQLError) -> QueryResult {
        let (catalog, version) = try database.catalog(in: tables)
        catalogVersion = version
        switch prepared.statement {
        case let .select(select):
            let plan: QueryPlan
            if let cached = prepared.plan, cached.version == version {
                plan = cached.plan
            } else {
                plan = try planner(catalog).plan(select)
                prepared.plan = (version, plan)
            }
            return QueryResult(columns: plan.columns, rows: try rows(of: plan))
        case let .explain(inner):
            return QueryResult(columns: ["plan"], rows: try explain(inner, catalog).map { [.text($0)] })
        case let .insert(table, columns, source, onConflict):
            // Rows of constants and parameters, no ON CONFLICT, table and columns known
            // from an earlier run: the statement's parts are not taken apart again.
            if let cached = prepared.insertTarget, cached.version == version, let rows = cached.target.valueRows, onConflict == nil {
                return QueryResult(rowsAffected: try insertValues(rows, cached.target))
            }
            return QueryResult(rowsAffected: try insert(table, columns, source, onConflict, catalog, prepared))
        case let .update(table, assignments, filter):
            return QueryResult(rowsAffected: try update(table, assignments, filter, catalog))
        case let .delete(table, filter):
            return QueryResult(rowsAffected: try delete(table, filter, catalog))
        case .createTable, .dropTable, .alterTable, .createIndex, .dropIndex:
            try define(prepared.statement, catalog)
            return QueryResult()
        case .begin, .commit, .rollback:
            preconditionFailure("transaction control is the session's")
        }
    }

    private func planner(_ catalog: Catalog) -> Planner {
        Planner(catalog: catalog, source: source) { [database, tables] table in database.rowEstimate(table, tables) }
    }

    private func newRun(_ plan: QueryPlan) -> QueryRun {
        QueryRun(tables: tables, parameters: parameters, subplans: plan.subplans, budget: MemoryBudget(limitBytes: database.memoryBudgetBytes))
    }

    private func rows(of plan: QueryPlan) throws(SQLError) -> [[SQLValue]] {
        let run = newRun(plan)
        // The plan may be kept for the next execution; this one's run is not.
        defer { plan.root.detach() }
        try plan.root.open(run)
        var rows: [[SQLValue]] = []
        while let row = try plan.root.next() { rows.append(row) }
        return rows
    }

    private func explain(_ statement: Statement, _ catalog: Catalog) throws(SQLError) -> [String] {
        switch statement {
        case let .select(select):
            return try planner(catalog).plan(select).explanation
        case let .update(table, _, filter), let .delete(table, filter):
            let (planner, scan) = try matching(table, filter, catalog)
            var lines = [statement.isUpdate ? "UPDATE \(table.text)" : "DELETE FROM \(table.text)"]
            scan.explain(into: &lines, depth: 1)
            return lines + QueryPlan.explain(planner.subplans)
        case let .insert(table, _, .select(select), _):
            return ["INSERT INTO \(table.text)"] + (try planner(catalog).plan(select).explanation).map { "  " + $0 }
        case let .insert(table, _, .values(rows), _):
            return ["INSERT INTO \(table.text) VALUES (\(rows.count) rows)"]
        case .explain:
            throw SQLError(.syntax, "EXPLAIN EXPLAIN is not a statement")
        default:
            return [SQLPrinter.print(statement)]
        }
    }

    // MARK: writing rows

    private func writer(_ name: Name, _ catalog: Catalog) throws(SQLError) -> RowWriter {
        guard let table = catalog.table(name.normalized) else {
            throw SQLError(.name, "there is no table \(name.text)", at: name.position, length: name.text.count)
        }
        return RowWriter(try database.writing(table, catalog, version: catalogVersion), tables: tables)
    }

    private func note(_ writer: RowWriter) {
        rowDeltas.add(writer.table.id, writer.rowDelta)
    }

    /// The table an INSERT writes and the column each value goes to, resolved once per
    /// catalog version and kept on the prepared statement.
    private func insertTarget(_ name: Name, _ columnNames: [Name], _ source: InsertSource, _ catalog: Catalog,
                              _ prepared: PreparedStatement) throws(SQLError) -> InsertTarget {
        if let cached = prepared.insertTarget, cached.version == catalogVersion { return cached.target }
        let writing = try writer(name, catalog).parts
        let table = writing.shape.table
        var targets: [Int] = []
        for column in columnNames {
            guard let index = table.columnIndex(column.normalized) else {
                throw SQLError(.name, "table \(table.name) has no column \(column.text)", at: column.position, length: column.text.count)
            }
            guard !targets.contains(index) else {
                throw SQLError(.syntax, "column \(column.text) is given twice", at: column.position, length: column.text.count)
            }
            targets.append(index)
        }
        if columnNames.isEmpty { targets = Array(table.columns.indices) }
        let planned = StatementExecution.planned(source)
        var valueRows: [[Expression]]?
        if !planned, case let .values(rows) = source {
            if let wrong = rows.first(where: { $0.count != targets.count }) {
                throw SQLError(.syntax, "table \(table.name) gets \(wrong.count) values for \(targets.count) columns")
            }
            valueRows = rows
        }
        let target = InsertTarget(writing: writing, columns: targets, planned: planned, valueRows: valueRows)
        prepared.insertTarget = (catalogVersion, target)
        return target
    }

    private func insert(_ name: Name, _ columnNames: [Name], _ source: InsertSource, _ onConflict: OnConflict?,
                        _ catalog: Catalog, _ prepared: PreparedStatement) throws(SQLError) -> Int {
        let target = try insertTarget(name, columnNames, source, catalog, prepared)
        let writer = RowWriter(target.writing, tables: tables)
        defer { note(writer) }
        let targets = target.columns
        let defaults = target.writing.shape.defaults
        lazy var planner = planner(catalog)

        // Rows from a plan (INSERT … SELECT, or VALUES with subqueries) are all computed
        // before any is written: the plan may read the table. Constants and parameters
        // cannot, so those rows are evaluated and written one at a time.
        var planned: [[SQLValue]] = []
        if target.planned {
            let plan: QueryPlan
            switch source {
            case let .values(rows):
                plan = try planner.plan(Select(first: SelectCore(values: rows)))
            case let .select(select):
                plan = try planner.plan(select)
            }
            guard plan.columns.count == targets.count else {
                throw SQLError(.syntax, "table \(writer.table.name) gets \(plan.columns.count) values for \(targets.count) columns")
            }
            planned = try rows(of: plan)
        }

        var upsert: (assignments: [(Int, Expression)], filter: Expression?)?
        var conflictColumns: Set<Int>?
        if let onConflict {
            let table = writer.table
            if !onConflict.columns.isEmpty {
                var columns = Set<Int>()
                for column in onConflict.columns {
                    guard let index = table.columnIndex(column.normalized) else {
                        throw SQLError(.name, "table \(table.name) has no column \(column.text)", at: column.position, length: column.text.count)
                    }
                    columns.insert(index)
                }
                let keys = [table.primaryKey] + table.uniqueConstraints + catalog.indexes(on: table.name).filter(\.unique).map(\.columns)
                guard keys.contains(where: { Set($0) == columns }) else {
                    throw SQLError(.syntax, "the ON CONFLICT columns must be the primary key or a UNIQUE constraint of \(table.name)")
                }
                conflictColumns = columns
            }
            if case let .doUpdate(assignments, filter) = onConflict.action {
                // The existing row, then the proposed one as `excluded`.
                var columns = table.columns.enumerated().map { ScopeColumn(table: table.name, name: $1.name, affinity: writer.shape.affinities[$0]) }
                columns += table.columns.enumerated().map { ScopeColumn(table: "excluded", name: $1.name, affinity: writer.shape.affinities[$0]) }
                let scope = Scope(columns, parent: nil, level: 0)
                upsert = (try bindAssignments(assignments, table, scope, planner), try filter.map { expression throws(SQLError) in
                    try planner.bindNames(expression, scope, aggregates: .forbidden("ON CONFLICT")) })
            }
        }

        // Made only when a CHECK, a subquery or an upsert needs it.
        lazy var run = upsert == nil && !target.planned
            ? newRun(QueryPlan(root: ValuesNode([]), columns: [], subplans: []))
            : newRun(QueryPlan(root: ValuesNode([]), columns: [], subplans: planner.subplans))
        var affected = 0
        /// Writes one new row (every column): converted, checked, inserted or upserted.
        func write(_ row: inout [SQLValue]) throws(SQLError) {
            try writer.prepare(&row, run)
            let key = try writer.newKey(for: row)
            guard let onConflict, let conflict = try writer.conflict(row, key: key) else {
                try writer.insert(row, key: key)
                affected += 1
                return
            }
            if let conflictColumns, Set(conflict.columns) != conflictColumns {
                throw RowWriter.describe(conflict, in: writer.table)
            }
            guard case .doUpdate = onConflict.action, let upsert else { return }
            guard let existing = try writer.existing(conflict.existingKey) else { return }
            let both = existing + row
            guard try run.holds(upsert.filter, both) else { return }
            var updated = existing
            for (index, expression) in upsert.assignments { updated[index] = try run.evaluate(expression, both) }
            try writer.prepare(&updated, run)
            try writer.update(existing, key: conflict.existingKey, to: updated)
            affected += 1
        }

        if target.planned {
            for index in planned.indices {
                var row = defaults
                for (position, value) in planned[index].enumerated() { row[targets[position]] = value }
                planned[index] = []
                try write(&row)
            }
        } else if case let .values(rows) = source {
            let context = EvaluationContext(parameters: parameters)
            for values in rows {
                var row = try newRow(values, target, context)
                try write(&row)
            }
        }
        return affected
    }

    /// The common INSERT: rows of constants and parameters, no ON CONFLICT.
    private func insertValues(_ rows: [[Expression]], _ target: InsertTarget) throws(SQLError) -> Int {
        let writer = RowWriter(target.writing, tables: tables)
        defer { note(writer) }
        lazy var run = newRun(QueryPlan(root: ValuesNode([]), columns: [], subplans: []))
        let context = EvaluationContext(parameters: parameters)
        for values in rows {
            var row = try newRow(values, target, context)
            try writer.prepare(&row, run)
            try writer.insert(row, key: try writer.newKey(for: row))
        }
        return rows.count
    }

    /// A new row of every column: `values` for the target columns, defaults elsewhere.
    /// Built by appending: copying the defaults and changing the copy costs a generic
    /// copy-on-write per row.
    private func newRow(_ values: [Expression], _ target: InsertTarget, _ context: EvaluationContext) throws(SQLError) -> [SQLValue] {
        let defaults = target.writing.shape.defaults
        var row: [SQLValue] = []
        row.reserveCapacity(defaults.count)
        if target.coversTableInOrder {
            for value in values {
                // A parameter (the usual prepared INSERT) is taken as it is.
                if case let .parameter(number, _) = value, number <= parameters.count {
                    row.append(parameters[number - 1])
                } else {
                    row.append(try Evaluator.evaluate(value, context))
                }
            }
        } else {
            for value in defaults { row.append(value) }
            for position in values.indices { row[target.columns[position]] = try Evaluator.evaluate(values[position], context) }
        }
        return row
    }

    /// Whether an INSERT's rows come from a plan (not constants and parameters).
    static func planned(_ source: InsertSource) -> Bool {
        guard case let .values(rows) = source else { return true }
        return !rows.allSatisfy { $0.allSatisfy(isConstant) }
    }

    /// Whether `expression` needs no row and no query to evaluate.
    static func isConstant(_ expression: Expression) -> Bool {
        var constant = true
        Planner.visit(expression) { node in
            switch node {
            case .column, .subquery, .exists, .inSelect, .slot, .subplan: constant = false
            default: break
            }
        }
        return constant
    }

    private func bindAssignments(_ assignments: [Assignment], _ table: Catalog.Table, _ scope: Scope, _ planner: Planner) throws(SQLError) -> [(Int, Expression)] {
        var bound: [(Int, Expression)] = []
        for assignment in assignments {
            guard let index = table.columnIndex(assignment.column.normalized) else {
                throw SQLError(.name, "table \(table.name) has no column \(assignment.column.text)", at: assignment.column.position, length: assignment.column.text.count)
            }
            bound.append((index, try planner.bindNames(assignment.value, scope, aggregates: .forbidden("SET"))))
        }
        return bound
    }

    /// A scan of the rows of `name` that `filter` selects, using the best access path.
    private func matching(_ name: Name, _ filter: Expression?, _ catalog: Catalog) throws(SQLError) -> (Planner, TableScanNode) {
        guard let table = catalog.table(name.normalized) else {
            throw SQLError(.name, "there is no table \(name.text)", at: name.position, length: name.text.count)
        }
        let shape = TableShape(table)
        let planner = planner(catalog)
        let scope = Scope(table.columns.enumerated().map { ScopeColumn(table: table.name, name: $1.name, affinity: shape.affinities[$0]) },
                          parent: nil, level: 0)
        let bound = try filter.map { expression throws(SQLError) in try planner.bindNames(expression, scope, aggregates: .forbidden("WHERE")) }
        let conditions = bound.map(Planner.conjuncts) ?? []
        let (access, estimate, _) = planner.chooseAccess(shape, conditions.filter { !Planner.hasSubplan($0) }, probe: [])
        return (planner, TableScanNode(shape, alias: table.name, access: access, filter: bound, estimatedRows: estimate))
    }

    /// The rows `scan` gives with their keys, all read before any is changed.
    private func collect(_ scan: TableScanNode, _ run: QueryRun) throws(SQLError) -> [(key: [UInt8], row: [SQLValue])] {
        try scan.open(run)
        var found: [(key: [UInt8], row: [SQLValue])] = []
        while let row = try scan.next() {
            try run.budget.charge(row, for: "UPDATE or DELETE")
            found.append((scan.currentKey, row))
        }
        return found
    }

    private func update(_ name: Name, _ assignments: [Assignment], _ filter: Expression?, _ catalog: Catalog) throws(SQLError) -> Int {
        let (planner, scan) = try matching(name, filter, catalog)
        let writer = try writer(name, catalog)
        defer { note(writer) }
        let scope = Scope(writer.table.columns.enumerated().map { ScopeColumn(table: writer.table.name, name: $1.name, affinity: writer.shape.affinities[$0]) },
                          parent: nil, level: 0)
        let bound = try bindAssignments(assignments, writer.table, scope, planner)
        let run = newRun(QueryPlan(root: scan, columns: [], subplans: planner.subplans))
        let found = try collect(scan, run)
        for (key, old) in found {
            var new = old
            for (index, expression) in bound { new[index] = try run.evaluate(expression, old) }
            try writer.prepare(&new, run)
            try writer.update(old, key: key, to: new)
        }
        return found.count
    }

    private func delete(_ name: Name, _ filter: Expression?, _ catalog: Catalog) throws(SQLError) -> Int {
        let (planner, scan) = try matching(name, filter, catalog)
        let writer = try writer(name, catalog)
        defer { note(writer) }
        let run = newRun(QueryPlan(root: scan, columns: [], subplans: planner.subplans))
        let found = try collect(scan, run)
        for (key, row) in found { try writer.delete(row, key: key) }
        return found.count
    }

    // MARK: definitions

    private func define(_ statement: Statement, _ catalog: Catalog) throws(SQLError) {
        var changed = catalog
        try changed.apply(statement)
        switch statement {
        case let .createIndex(name, _, _, _, _):
            // A new index starts with an entry for every row already there.
            if catalog.index(name.normalized) == nil, let index = changed.index(name.normalized), let table = changed.table(index.table) {
                let shape = TableShape(table)
                let scan = TableScanNode(shape, alias: table.name, access: .full, filter: nil, estimatedRows: 1)
                let found = try collect(scan, newRun(QueryPlan(root: scan, columns: [], subplans: [])))
                var seen = Set<[SQLValue]>()
                for (key, row) in found {
                    let values = index.columns.map { row[$0] }
                    if index.unique && !values.contains(where: \.isNull) && !seen.insert(values).inserted {
                        throw SQLError(.constraint, "UNIQUE index \(index.name) cannot be built: \(table.name) has rows with the same values")
                    }
                    try put(RowLayout.indexPrefix(index.id) + KeyEncoding.key(values) + key, key)
                }
            }
        case let .alterTable(name, .dropColumn(column)):
            // Rows lose the dropped value (rows stored before later ADD COLUMNs are padded).
            if let table = catalog.table(name.normalized), let position = table.columnIndex(column.normalized) {
                let shape = TableShape(table)
                let scan = TableScanNode(shape, alias: table.name, access: .full, filter: nil, estimatedRows: 1)
                for (key, row) in try collect(scan, newRun(QueryPlan(root: scan, columns: [], subplans: []))) {
                    var shorter = row
                    shorter.remove(at: position)
                    try put(shape.storageKey(key), RowLayout.encode(shorter))
                }
            }
        case let .alterTable(name, .addColumn(definition)):
            if definition.check != nil, let table = changed.table(name.normalized) {
                // Rows already there must pass the new column's CHECK with its default.
                let shape = TableShape(table)
                let scan = TableScanNode(shape, alias: table.name, access: .full, filter: nil, estimatedRows: 1)
                let writer = RowWriter(try TableWriting(shape, catalog: changed), tables: tables)
                let run = newRun(QueryPlan(root: scan, columns: [], subplans: []))
                for (_, var row) in try collect(scan, run) { try writer.prepare(&row, run) }
            }
        default:
            break
        }
        // Dropped tables and indexes leave their keys behind, unreachable: ids are never
        // reused, and a later compaction of the key range can reclaim the space.
        if changed != catalog { try put(RowLayout.catalogKey, changed.encoded) }
    }

    private func put(_ key: [UInt8], _ value: [UInt8]) throws(SQLError) {
        do { try tables.transaction.put(key, value) } catch { throw SQLError(error) }
    }
}

extension Statement {
    var isUpdate: Bool { if case .update = self { return true } else { return false } }
}
