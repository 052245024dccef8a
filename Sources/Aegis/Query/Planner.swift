/// The binder and planner: names resolved against the catalog, expressions bound to
/// row positions, and a tree of operators chosen for a SELECT.
///
/// - Predicates are split at AND and pushed down to the table they read (through inner
///   joins, and to the preserved side of outer joins).
/// - A table is read by primary key, by an index or in full: the access path with the
///   most leading key columns pinned by `=` (then a range on the next) wins; the
///   primary key wins ties, as it needs no second read.
/// - A join with equality conditions is an index nested loop when the right table has a
///   key on them and the left side is expected to be the smaller, a hash join otherwise;
///   without equalities, a nested loop.
/// - A condition the access path enforces exactly (its key range holds just the rows
///   the comparison accepts, after the same affinity conversion) is not checked again;
///   every other condition is checked on every row it applies to.

/// A planned SELECT: its operators, result column names, and the subqueries its
/// expressions run.
public struct QueryPlan {
    let root: PlanNode
    public let columns: [String]
    let subplans: [Subplan]

    /// EXPLAIN's text: one line per operator, children indented.
    public var explanation: [String] {
        var lines: [String] = []
        root.explain(into: &lines)
        return lines + QueryPlan.explain(subplans)
    }

    /// One block per planned subquery, as EXPLAIN prints them after the main plan.
    static func explain(_ subplans: [Subplan]) -> [String] {
        var lines: [String] = []
        for (id, subplan) in subplans.enumerated() {
            lines.append("SUBQUERY \(id)" + (subplan.correlated ? " (correlated)" : ""))
            subplan.root.explain(into: &lines, depth: 1)
        }
        return lines
    }
}

/// A column a name can resolve to.
struct ScopeColumn {
    var table: String?
    var name: String
    var affinity: ColumnAffinity
    /// Shown by `*` (the right copy of a USING column is not).
    var visible = true
    /// Found by an unqualified name (the right copy of a USING column is not).
    var unqualified = true
}

/// The columns visible at one level of a query, and the level around it.
final class Scope {
    var columns: [ScopeColumn]
    let parent: Scope?
    /// Nesting level: a subquery in an expression is one deeper than its query.
    let level: Int

    init(_ columns: [ScopeColumn], parent: Scope?, level: Int) {
        self.columns = columns
        self.parent = parent
        self.level = level
    }
}

final class Planner {
    let catalog: Catalog
    let source: String
    let rowEstimate: (Catalog.Table) -> Double
    private(set) var subplans: [Subplan] = []
    /// The lowest query level any name resolved to since the mark (for correlation).
    private var lowestLevelReferenced = Int.max
    /// Table scans made for the query level being planned, with where their columns
    /// start in its row (for projection pushdown).
    private var levelScans: [(scan: TableScanNode, start: Int)] = []
    /// Common table expressions in scope, innermost last.
    private var commonTables: [(name: String, columns: [ScopeColumn], node: PlanNode)] = []

    init(catalog: Catalog, source: String, rowEstimate: @escaping (Catalog.Table) -> Double) {
        self.catalog = catalog
        self.source = source
        self.rowEstimate = rowEstimate
    }

    public func plan(_ select: Select) throws(SQLError) -> QueryPlan {
        let (node, columns) = try planSelect(select, parent: nil, level: 0)
        return QueryPlan(root: node, columns: columns.map(\.name), subplans: subplans)
    }

    // MARK: SELECT

    func planSelect(_ select: Select, parent: Scope?, level: Int) throws(SQLError) -> (PlanNode, [ScopeColumn]) {
        let savedCommonTables = commonTables.count
        defer { commonTables.removeLast(commonTables.count - savedCommonTables) }
        for table in select.with {
            let (node, columns) = try planSelect(table.select, parent: parent, level: level)
            var named = columns
            if !table.columns.isEmpty {
                guard table.columns.count == columns.count else {
                    throw SQLError(.syntax, "\(table.name.text) names \(table.columns.count) columns but its query gives \(columns.count)",
                                   at: table.name.position, length: table.name.text.count)
                }
                for index in named.indices { named[index].name = table.columns[index].normalized }
            }
            for index in named.indices { named[index].table = table.name.normalized }
            let materialized = MaterializedNode(name: table.name.text, source: node)
            materialized.columnNames = named.map(\.name)
            commonTables.append((table.name.normalized, named, materialized))
        }
        if select.compounds.isEmpty {
            return try planCore(select.first, orderBy: select.orderBy, limit: select.limit, offset: select.offset, parent: parent, level: level)
        }
        var (node, columns) = try planCore(select.first, orderBy: [], limit: nil, offset: nil, parent: parent, level: level)
        for (op, core) in select.compounds {
            let (right, rightColumns) = try planCore(core, orderBy: [], limit: nil, offset: nil, parent: parent, level: level)
            guard rightColumns.count == columns.count else {
                throw SQLError(.syntax, "each side of \(op.rawValue) must give the same number of columns (\(columns.count) and \(rightColumns.count))")
            }
            node = CompoundNode(node, op, right)
        }
        if !select.orderBy.isEmpty {
            var keys: [SortKey] = []
            for term in select.orderBy {
                let index: Int
                if case let .literal(.integer(number)) = term.expression, number >= 1, number <= columns.count {
                    index = Int(number) - 1
                } else if case let .column(nil, name) = term.expression, let found = columns.firstIndex(where: { $0.name == name.normalized }) {
                    index = found
                } else {
                    throw SQLError(.syntax, "an ORDER BY term of a compound SELECT must be a result column's name or number")
                }
                keys.append(sortKey(term, index))
            }
            node = SortNode(node, keys: keys)
        }
        if select.limit != nil || select.offset != nil {
            node = LimitNode(node, limit: try bindConstant(select.limit, parent: parent, level: level),
                             offset: try bindConstant(select.offset, parent: parent, level: level))
        }
        return (node, columns)
    }

    private func sortKey(_ term: OrderTerm, _ index: Int) -> SortKey {
        let descending = term.direction == .descending
        return SortKey(index: index, descending: descending, nullsFirst: term.nulls.map { $0 == .first } ?? !descending)
    }

    private func bindConstant(_ expression: Expression?, parent: Scope?, level: Int) throws(SQLError) -> Expression? {
        guard let expression else { return nil }
        return try bindNames(expression, Scope([], parent: parent, level: level), aggregates: .forbidden("LIMIT"))
    }

    private func planCore(_ core: SelectCore, orderBy: [OrderTerm], limit: Expression?, offset: Expression?,
                          parent: Scope?, level: Int) throws(SQLError) -> (PlanNode, [ScopeColumn]) {
        if let rows = core.values {
            let scope = Scope([], parent: parent, level: level)
            var bound: [[Expression]] = []
            for row in rows {
                guard row.count == rows[0].count else { throw SQLError(.syntax, "all VALUES rows must have the same number of values") }
                var values: [Expression] = []
                for value in row { values.append(try bindNames(value, scope, aggregates: .forbidden("VALUES"))) }
                bound.append(values)
            }
            var node: PlanNode = ValuesNode(bound)
            let columns = (0..<(rows.first?.count ?? 0)).map { ScopeColumn(table: nil, name: "column\($0 + 1)", affinity: .none) }
            if !orderBy.isEmpty {
                var keys: [SortKey] = []
                for term in orderBy {
                    guard case let .literal(.integer(number)) = term.expression, number >= 1, number <= columns.count else {
                        throw SQLError(.syntax, "ORDER BY after VALUES takes a column number")
                    }
                    keys.append(sortKey(term, Int(number) - 1))
                }
                node = SortNode(node, keys: keys)
            }
            if limit != nil || offset != nil {
                node = LimitNode(node, limit: try bindConstant(limit, parent: parent, level: level), offset: try bindConstant(offset, parent: parent, level: level))
            }
            return (node, columns)
        }

        // FROM: the relations, their columns, and the join conditions.
        let scope = Scope([], parent: parent, level: level)
        var node: PlanNode
        var remaining: [Expression] = []
        let savedScans = levelScans
        levelScans = []
        defer { levelScans = savedScans }
        let subplansBefore = subplans.count
        var read: [Expression] = []
        if let from = core.from {
            let relation = try relationTree(from, scope)
            read += Planner.joinConditions(relation)
            var conjuncts: [Expression] = []
            if let filter = core.filter {
                conjuncts = Planner.conjuncts(try bindNames(filter, scope, aggregates: .forbidden("WHERE")))
            }
            read += conjuncts
            let (pushable, kept) = conjuncts.partitioned { !self.readsCurrentRowInSubplan($0, level: level) }
            node = try buildInOrder(relation, pushed: pushable, scope: scope, above: &remaining)
            remaining += kept
        } else {
            node = ValuesNode([[]])
            if let filter = core.filter { remaining = [try bindNames(filter, scope, aggregates: .forbidden("WHERE"))] }
        }
        if let predicate = Planner.conjunction(remaining) { node = FilterNode(node, predicate) }

        // The result columns, bound to the FROM row.
        var results: [Expression] = []
        var columns: [ScopeColumn] = []
        for (position, column) in core.columns.enumerated() {
            switch column {
            case .all:
                guard core.from != nil else { throw SQLError(.syntax, "SELECT * needs a FROM clause") }
                for (index, candidate) in scope.columns.enumerated() where candidate.visible {
                    results.append(.slot(depth: 0, index: index, affinity: candidate.affinity.comparison))
                    columns.append(candidate)
                }
            case let .allOf(table):
                let matching = scope.columns.indices.filter { scope.columns[$0].table == table.normalized && scope.columns[$0].visible }
                guard !matching.isEmpty else { throw SQLError(.name, "there is no table \(table.text) in FROM", at: table.position, length: table.text.count) }
                for index in matching {
                    results.append(.slot(depth: 0, index: index, affinity: scope.columns[index].affinity.comparison))
                    columns.append(scope.columns[index])
                }
            case let .expression(expression, alias):
                let bound = try bindNames(expression, scope, aggregates: .allowed)
                results.append(bound)
                var name: String
                var affinity = ColumnAffinity.none
                if let alias {
                    name = alias.text
                } else if case let .column(_, column) = expression {
                    name = column.text
                } else {
                    name = columnText(core, position) ?? SQLPrinter.print(expression)
                }
                if case let .slot(0, index, _) = bound { affinity = scope.columns[index].affinity; if alias == nil { name = scope.columns[index].name } }
                columns.append(ScopeColumn(table: nil, name: name, affinity: affinity))
            }
        }

        // ORDER BY terms: a result column by number or alias, else an expression.
        var sortKeys: [SortKey] = []
        var extras: [Expression] = []
        for term in orderBy {
            if case let .literal(.integer(number)) = term.expression {
                guard number >= 1, number <= results.count else {
                    throw SQLError(.syntax, "ORDER BY \(number) is out of range: the result has \(results.count) columns")
                }
                sortKeys.append(sortKey(term, Int(number) - 1))
                continue
            }
            if case let .column(nil, name) = term.expression,
               let index = core.columns.indices.first(where: { if case let .expression(_, alias?) = core.columns[$0] { return alias == name } else { return false } }) {
                sortKeys.append(sortKey(term, index))
                continue
            }
            let bound = try bindNames(term.expression, scope, aggregates: .allowed)
            if let index = results.firstIndex(of: bound) {
                sortKeys.append(sortKey(term, index))
            } else {
                sortKeys.append(sortKey(term, results.count + extras.count))
                extras.append(bound)
            }
        }

        // Aggregation: group keys and aggregate calls computed first; the results then
        // read the aggregate row.
        var having = try core.having.map { expression throws(SQLError) in try bindNames(expression, scope, aggregates: .allowed) }
        read += results + extras + (having.map { [$0] } ?? [])
        let aggregating = !core.groupBy.isEmpty || results.contains(where: Planner.hasAggregate) || extras.contains(where: Planner.hasAggregate)
            || having.map(Planner.hasAggregate) == true
        if core.having != nil && !aggregating {
            throw SQLError(.syntax, "HAVING needs GROUP BY or an aggregate")
        }
        if aggregating {
            var groupKeys: [Expression] = []
            for expression in core.groupBy {
                if case let .literal(.integer(number)) = expression, number >= 1, number <= results.count {
                    groupKeys.append(results[Int(number) - 1])
                } else if case let .column(nil, name) = expression, scope.columns.allSatisfy({ $0.name != name.normalized }),
                          let index = core.columns.indices.first(where: { if case let .expression(_, alias?) = core.columns[$0] { return alias == name } else { return false } }) {
                    groupKeys.append(results[index])
                } else {
                    groupKeys.append(try bindNames(expression, scope, aggregates: .forbidden("GROUP BY")))
                }
            }
            read += groupKeys
            var calls: [AggregateCall] = []
            for index in results.indices { results[index] = try extract(results[index], groupKeys, &calls, level: level) }
            for index in extras.indices { extras[index] = try extract(extras[index], groupKeys, &calls, level: level) }
            if let condition = having { having = try extract(condition, groupKeys, &calls, level: level) }
            node = AggregateNode(node, groupKeys: groupKeys, aggregates: calls)
            if let having { node = FilterNode(node, having) }
        }

        pushProjection(read, wholeRow: subplans[subplansBefore...].contains { $0.outerLevel <= level })
        node = ProjectNode(node, results + extras)
        if core.distinct {
            guard extras.isEmpty else { throw SQLError(.syntax, "with SELECT DISTINCT, ORDER BY terms must be result columns") }
            node = DistinctNode(node)
        }
        if !sortKeys.isEmpty { node = SortNode(node, keys: sortKeys) }
        if !extras.isEmpty { node = TrimNode(node, width: results.count) }
        if limit != nil || offset != nil {
            node = LimitNode(node, limit: try bindConstant(limit, parent: parent, level: level), offset: try bindConstant(offset, parent: parent, level: level))
        }
        return (node, columns)
    }

    /// Tells this level's table scans which of their columns the query reads (all, when
    /// a subquery reads this level's row: its references are not visible here).
    private func pushProjection(_ expressions: [Expression], wholeRow: Bool) {
        guard !wholeRow else { return }
        var used = Set<Int>()
        for expression in expressions {
            Planner.visit(expression) { node in if case let .slot(0, index, _) = node { used.insert(index) } }
        }
        for (scan, start) in levelScans {
            scan.neededColumns = scan.shape.table.columns.indices.map { used.contains(start + $0) }
        }
    }

    static func joinConditions(_ relation: Relation) -> [Expression] {
        guard case let .join(left, _, right, on, _) = relation else { return [] }
        return on + joinConditions(left) + joinConditions(right)
    }

    /// The text a result column was written as (SQLite's name for it).
    private func columnText(_ core: SelectCore, _ position: Int) -> String? {
        guard position < core.columnSpans.ranges.count, let range = core.columnSpans.ranges[position] else { return nil }
        let bytes = Array(source.utf8)
        guard range.lowerBound >= 0, range.upperBound <= bytes.count, range.lowerBound < range.upperBound else { return nil }
        var text = String(decoding: bytes[range], as: UTF8.self)
        while let last = text.last, last == " " || last == "\n" || last == "\t" || last == "\r" { text.removeLast() }
        return text.isEmpty ? nil : text
    }

    // MARK: FROM

    indirect enum Relation {
        case table(TableShape, alias: String, range: Range<Int>)
        case derived(PlanNode, alias: String, range: Range<Int>)
        case join(Relation, JoinKind, Relation, on: [Expression], range: Range<Int>)

        var range: Range<Int> {
            switch self {
            case let .table(_, _, range), let .derived(_, _, range), let .join(_, _, _, _, range): return range
            }
        }
    }

    /// Adds each relation's columns to `scope` and binds the join conditions.
    private func relationTree(_ reference: TableReference, _ scope: Scope) throws(SQLError) -> Relation {
        switch reference {
        case let .table(name, alias):
            let start = scope.columns.count
            let aliasName = (alias ?? name).normalized
            if scope.columns.contains(where: { $0.table == aliasName }) {
                throw SQLError(.name, "the name \((alias ?? name).text) is used twice in FROM; give one an alias", at: (alias ?? name).position, length: (alias ?? name).text.count)
            }
            if let common = commonTables.last(where: { $0.name == name.normalized }) {
                for column in common.columns {
                    scope.columns.append(ScopeColumn(table: aliasName, name: column.name, affinity: column.affinity))
                }
                return .derived(common.node, alias: aliasName, range: start..<scope.columns.count)
            }
            guard let table = catalog.table(name.normalized) else {
                throw SQLError(.name, "there is no table \(name.text)", at: name.position, length: name.text.count)
            }
            let shape = TableShape(table)
            for (index, column) in table.columns.enumerated() {
                scope.columns.append(ScopeColumn(table: aliasName, name: column.name, affinity: shape.affinities[index]))
            }
            return .table(shape, alias: aliasName, range: start..<scope.columns.count)
        case let .subquery(select, alias):
            let start = scope.columns.count
            let (node, columns) = try planSelect(select, parent: scope.parent, level: scope.level)
            for column in columns {
                scope.columns.append(ScopeColumn(table: alias?.normalized, name: column.name, affinity: column.affinity))
            }
            return .derived(node, alias: alias?.normalized ?? "", range: start..<scope.columns.count)
        case let .join(leftReference, kind, rightReference, constraint):
            let left = try relationTree(leftReference, scope)
            let right = try relationTree(rightReference, scope)
            var on: [Expression] = []
            switch constraint {
            case .none:
                break
            case let .on(expression):
                // ON sees the tables joined so far, not those after.
                let visible = Scope(Array(scope.columns[0..<right.range.upperBound]), parent: scope.parent, level: scope.level)
                on = Planner.conjuncts(try bindNames(expression, visible, aggregates: .forbidden("ON")))
            case let .using(names):
                for name in names {
                    guard let leftIndex = left.range.last(where: { scope.columns[$0].name == name.normalized && scope.columns[$0].unqualified }),
                          let rightIndex = right.range.first(where: { scope.columns[$0].name == name.normalized }) else {
                        throw SQLError(.name, "USING column \(name.text) is not in both sides of the join", at: name.position, length: name.text.count)
                    }
                    on.append(.binary(.equal, .slot(depth: 0, index: leftIndex, affinity: scope.columns[leftIndex].affinity.comparison),
                                      .slot(depth: 0, index: rightIndex, affinity: scope.columns[rightIndex].affinity.comparison)))
                    scope.columns[rightIndex].visible = false
                    scope.columns[rightIndex].unqualified = false
                }
            }
            return .join(left, kind, right, on: on, range: left.range.lowerBound..<right.range.upperBound)
        }
    }

    // MARK: join order

    /// The leaves of a join tree made only of inner and cross joins (nil otherwise).
    static func innerLeaves(_ relation: Relation) -> [Relation]? {
        switch relation {
        case .table, .derived: return [relation]
        case let .join(left, kind, right, _, _):
            guard kind == .inner || kind == .cross, let l = innerLeaves(left), let r = innerLeaves(right) else { return nil }
            return l + r
        }
    }

    /// Small-join ordering: inner joins are free to run in any order. Three left-deep
    /// orders are costed — FROM's, smallest first and largest first (by the rows expected
    /// after each table's own conditions, each next table one an equality connects to
    /// what is joined so far) — and the cheapest (by a tenth or more) is taken: small
    /// outer sides for index joins, small build sides for hash joins. The joined row is
    /// then put back in FROM order, so nothing above changes.
    private func buildInOrder(_ relation: Relation, pushed: [Expression], scope: Scope, above: inout [Expression]) throws(SQLError) -> PlanNode {
        guard let leaves = Planner.innerLeaves(relation), leaves.count >= 2, relation.range.lowerBound == 0 else {
            return try build(relation, pushed: pushed, scope: scope, above: &above)
        }
        let conditions = pushed + Planner.joinConditions(relation)
        func within(_ expression: Expression, _ range: Range<Int>) -> Bool {
            guard let used = Planner.slotRange(expression) else { return false }
            return range.contains(used.lowerBound) && range.contains(used.upperBound)
        }
        let estimates = leaves.map { leaf -> Double in
            let local = conditions.filter { within($0, leaf.range) }.map { Planner.shift($0, by: -leaf.range.lowerBound) }
            switch leaf {
            case let .table(shape, _, _): return chooseAccess(shape, local, probe: []).1
            case let .derived(node, _, _): return node.estimatedRows * (local.isEmpty ? 1 : 0.5)
            case .join: return .infinity
            }
        }
        func connects(_ leaf: Int, _ chosen: [Int]) -> Bool {
            conditions.contains { condition in
                guard case let .binary(.equal, a, b) = condition else { return false }
                let inChosen = { (e: Expression) in chosen.contains { within(e, leaves[$0].range) } }
                return (within(a, leaves[leaf].range) && inChosen(b)) || (within(b, leaves[leaf].range) && inChosen(a))
            }
        }
        /// A left-deep order built greedily: first the leaf `first` prefers, then each
        /// time the preferred leaf among those an equality connects to what is joined.
        func greedy(_ prefer: (Int, Int) -> Bool) -> [Int] {
            func pick(_ pool: [Int]) -> Int { pool.min { prefer($0, $1) }! }
            var order = [pick(Array(leaves.indices))]
            while order.count < leaves.count {
                let remaining = leaves.indices.filter { !order.contains($0) }
                let connected = remaining.filter { connects($0, order) }
                order.append(pick(connected.isEmpty ? remaining : connected))
            }
            return order
        }
        /// What an order costs, joining as `build` will: by index when the next table has
        /// a key the joined rows can probe, by hash on equalities, else every pair.
        func cost(_ order: [Int]) -> Double {
            var rows = estimates[order[0]]
            var total = rows
            for step in 1..<order.count {
                let leaf = leaves[order[step]]
                let chosen = Array(order[0..<step])
                var probes: [(column: Int, value: Expression)] = []
                var equalities = false
                for condition in conditions {
                    guard case let .binary(.equal, a, b) = condition else { continue }
                    let inChosen = { (e: Expression) in chosen.contains { within(e, leaves[$0].range) } }
                    for (mine, theirs) in [(a, b), (b, a)] where within(mine, leaf.range) && inChosen(theirs) {
                        equalities = true
                        if case let .slot(0, index, _) = mine { probes.append((index - leaf.range.lowerBound, theirs)) }
                    }
                }
                let size = estimates[order[step]]
                if case let .table(shape, _, _) = leaf, !probes.isEmpty, case let (access, perProbe, _) = chooseAccess(shape, [], probe: probes),
                   !access.isFull, Planner.prefersIndexJoin(outerRows: rows, tableRows: rowEstimate(shape.table)) {
                    total += rows * (4 + perProbe)
                    rows *= max(1, perProbe)
                } else if equalities {
                    total += rows + 3 * size
                    rows = max(rows, size)
                } else {
                    total += rows * size
                    rows *= size
                }
            }
            return total
        }
        let original = Array(leaves.indices)
        var order = original
        var best = cost(original)
        for candidate in [greedy { estimates[$0] != estimates[$1] ? estimates[$0] < estimates[$1] : $0 < $1 },
                          greedy { estimates[$0] != estimates[$1] ? estimates[$0] > estimates[$1] : $0 < $1 }] {
            let value = cost(candidate)
            if value < best * 0.9 {
                order = candidate
                best = value
            }
        }
        if order == original { return try build(relation, pushed: pushed, scope: scope, above: &above) }

        // The new row layout: leaves in the new order, each still contiguous.
        let width = relation.range.upperBound
        var mapping = Array(repeating: 0, count: width)
        var oldStart: [Int: Int] = [:]
        var tree: Relation?
        var position = 0
        for index in order {
            let leaf = leaves[index]
            let range = position..<(position + leaf.range.count)
            for (offset, old) in leaf.range.enumerated() { mapping[old] = position + offset }
            oldStart[position] = leaf.range.lowerBound
            let moved: Relation
            switch leaf {
            case let .table(shape, alias, _): moved = .table(shape, alias: alias, range: range)
            case let .derived(node, alias, _): moved = .derived(node, alias: alias, range: range)
            case .join: preconditionFailure("a leaf is not a join")
            }
            tree = tree.map { .join($0, .inner, moved, on: [], range: 0..<range.upperBound) } ?? moved
            position = range.upperBound
        }
        let scansBefore = levelScans.count
        let node = try build(tree!, pushed: conditions.map { Planner.remap($0, mapping) }, scope: scope, above: &above)
        for index in scansBefore..<levelScans.count {
            levelScans[index].start = oldStart[levelScans[index].start] ?? levelScans[index].start
        }
        return ProjectNode(node, (0..<width).map { old in .slot(depth: 0, index: mapping[old], affinity: scope.columns[old].affinity.comparison) })
    }

    /// Current-row positions renumbered through `mapping` (old position → new).
    static func remap(_ expression: Expression, _ mapping: [Int]) -> Expression {
        if case let .slot(0, index, affinity) = expression { return .slot(depth: 0, index: mapping[index], affinity: affinity) }
        return expression.mappingChildren { remap($0, mapping) }
    }

    /// Operators for `relation`, with `pushed` conditions (bound to the whole FROM row)
    /// placed as low as they can go; those that cannot go inside go to `above`.
    private func build(_ relation: Relation, pushed: [Expression], scope: Scope, above: inout [Expression]) throws(SQLError) -> PlanNode {
        switch relation {
        case let .table(shape, alias, range):
            let local = pushed.map { Planner.shift($0, by: -range.lowerBound) }
            let (access, estimate, enforced) = chooseAccess(shape, local, probe: [])
            let residual = local.indices.filter { !enforced.contains($0) }.map { local[$0] }
            let scan = TableScanNode(shape, alias: alias, access: access, filter: Planner.conjunction(residual), estimatedRows: estimate)
            levelScans.append((scan, range.lowerBound))
            return scan
        case let .derived(node, _, range):
            guard let predicate = Planner.conjunction(pushed.map { Planner.shift($0, by: -range.lowerBound) }) else { return node }
            return FilterNode(node, predicate)
        case let .join(left, kind, right, on, range):
            var toLeft: [Expression] = []
            var toRight: [Expression] = []
            var conditions: [Expression] = []
            func side(_ expression: Expression) -> Int {
                guard let used = Planner.slotRange(expression) else { return 0 }
                if left.range.contains(used.lowerBound) && left.range.contains(used.upperBound) { return -1 }
                if right.range.contains(used.lowerBound) && right.range.contains(used.upperBound) { return 1 }
                return 0
            }
            switch kind {
            case .inner, .cross:
                for condition in pushed + on {
                    switch side(condition) {
                    case -1: toLeft.append(condition)
                    case 1: toRight.append(condition)
                    default:
                        if Planner.slotRange(condition) == nil { toLeft.append(condition) } else { conditions.append(condition) }
                    }
                }
            case .left:
                for condition in pushed { if side(condition) == -1 { toLeft.append(condition) } else { above.append(condition) } }
                for condition in on { if side(condition) == 1 { toRight.append(condition) } else { conditions.append(condition) } }
            case .right:
                for condition in pushed { if side(condition) == 1 { toRight.append(condition) } else { above.append(condition) } }
                for condition in on { if side(condition) == -1 { toLeft.append(condition) } else { conditions.append(condition) } }
            case .full:
                above += pushed
                conditions = on
            }
            let leftNode = try build(left, pushed: toLeft, scope: scope, above: &above)
            let leftWidth = left.range.count
            let rightWidth = right.range.count
            let local = conditions.map { Planner.shift($0, by: -range.lowerBound) }
            let residual = Planner.conjunction(local)

            // Equality conditions between the two sides: keys for a hash or index join.
            var keys = JoinKeys(left: [], right: [], affinities: [])
            var probes: [(column: Int, value: Expression)] = []
            /// Conditions a hash lookup enforces exactly: the key values are compared
            /// under the condition's own affinity, so the pair needs no second check.
            var keyConditions: [Int] = []
            for (position, condition) in local.enumerated() {
                guard case let .binary(.equal, a, b) = condition, !Planner.hasSubplan(condition) else { continue }
                let localLeft = 0..<leftWidth
                let localRight = leftWidth..<(leftWidth + rightWidth)
                func within(_ expression: Expression, _ bounds: Range<Int>) -> Bool {
                    guard let used = Planner.slotRange(expression) else { return false }
                    return bounds.contains(used.lowerBound) && bounds.contains(used.upperBound)
                }
                let (l, r): (Expression, Expression)
                if within(a, localLeft) && within(b, localRight) { (l, r) = (a, b) } else if within(b, localLeft) && within(a, localRight) { (l, r) = (b, a) } else { continue }
                let rightLocal = Planner.shift(r, by: -leftWidth)
                keys.left.append(l)
                keys.right.append(rightLocal)
                keys.affinities.append(Planner.comparisonAffinity(Evaluator.affinity(of: l), Evaluator.affinity(of: rightLocal)))
                keyConditions.append(position)
                if case let .slot(0, column, _) = rightLocal { probes.append((column, l)) }
            }

            if case let .table(shape, alias, rightRange) = right, kind == .inner || kind == .left, !probes.isEmpty {
                let rightLocal = toRight.map { Planner.shift($0, by: -rightRange.lowerBound) }
                let (access, perProbe, enforced) = chooseAccess(shape, rightLocal, probe: probes)
                if !access.isFull, Planner.prefersIndexJoin(outerRows: leftNode.estimatedRows, tableRows: rowEstimate(shape.table)) {
                    let rightResidual = rightLocal.indices.filter { !enforced.contains($0) }.map { rightLocal[$0] }
                    let scan = TableScanNode(shape, alias: alias, access: access, filter: Planner.conjunction(rightResidual), estimatedRows: perProbe)
                    levelScans.append((scan, rightRange.lowerBound))
                    return IndexJoinNode(leftNode, kind, scan, residual: residual, rightWidth: rightWidth)
                }
            }
            let rightNode = try build(right, pushed: toRight, scope: scope, above: &above)
            if !keys.left.isEmpty {
                let unenforced = local.indices.filter { !keyConditions.contains($0) }.map { local[$0] }
                return HashJoinNode(leftNode, kind, rightNode, keys: keys, residual: Planner.conjunction(unenforced),
                                    leftWidth: leftWidth, rightWidth: rightWidth)
            }
            return NestedLoopJoinNode(leftNode, kind, rightNode, predicate: residual, leftWidth: leftWidth, rightWidth: rightWidth)
        }
    }

    /// An index join (a key lookup per outer row) beats hashing the table when the outer
    /// side is small next to it, or the table is too big to hold.
    static func prefersIndexJoin(outerRows: Double, tableRows: Double) -> Bool {
        outerRows * 4 <= tableRows || tableRows > 50_000
    }

    /// The affinity both sides of an equality get before comparing (SQLite's rule).
    static func comparisonAffinity(_ left: Evaluator.Affinity?, _ right: Evaluator.Affinity?) -> Evaluator.Affinity? {
        if left == .numeric || right == .numeric { return .numeric }
        if left == .text || right == .text { return .text }
        return nil
    }

    // MARK: access paths

    /// The cheapest way to read `shape` given conditions on its row (`conditions`) and
    /// equalities against a probe row (`probe`, for index joins), with rows expected.
    ///
    /// Also which of `conditions` the path enforces by itself (its key range holds
    /// exactly the rows they accept: the value is converted by the column's affinity as
    /// the comparison would convert it), so the scan need not check them again.
    func chooseAccess(_ shape: TableShape, _ conditions: [Expression], probe: [(column: Int, value: Expression)])
        -> (AccessPath, Double, enforced: Set<Int>) {
        let total = max(1, rowEstimate(shape.table))
        // By column: the value, and which condition gave it (nil: a probe).
        var equalities: [Int: (Expression, Int?)] = [:]
        var lowers: [Int: (Expression, Bool, Int)] = [:]
        var uppers: [Int: (Expression, Bool, Int)] = [:]
        /// How many terms each condition gave (BETWEEN gives two).
        var termCounts: [Int: Int] = [:]
        for (column, value) in probe where equalities[column] == nil { equalities[column] = (value, nil) }
        func usable(_ column: Int, _ value: Expression) -> Bool {
            guard Planner.slotRange(value) == nil, !Planner.hasSubplan(value) else { return false }
            let valueAffinity = Evaluator.affinity(of: value)
            switch shape.affinities[column].comparison {
            case .numeric?: return true
            case .text?: return valueAffinity != .numeric
            case nil: return valueAffinity == nil
            }
        }
        for (conditionIndex, condition) in conditions.enumerated() {
            var terms: [(BinaryOperator, Int, Expression)] = []
            switch condition {
            case let .binary(op, .slot(0, column, _), value) where op.isComparison && op != .notEqual:
                terms.append((op, column, value))
            case let .binary(op, value, .slot(0, column, _)) where op.isComparison && op != .notEqual:
                let flipped: BinaryOperator = [.less: .greater, .lessEqual: .greaterEqual, .greater: .less, .greaterEqual: .lessEqual][op] ?? op
                terms.append((flipped, column, value))
            case let .between(.slot(0, column, _), low, high, false):
                terms.append((.greaterEqual, column, low))
                terms.append((.lessEqual, column, high))
            default:
                break
            }
            termCounts[conditionIndex] = terms.count
            for (op, column, value) in terms where usable(column, value) {
                switch op {
                case .equal: if equalities[column] == nil { equalities[column] = (value, conditionIndex) }
                case .greater, .greaterEqual: if lowers[column] == nil { lowers[column] = (value, op == .greaterEqual, conditionIndex) }
                case .less, .lessEqual: if uppers[column] == nil { uppers[column] = (value, op == .lessEqual, conditionIndex) }
                default: break
                }
            }
        }
        func range(for columns: [Int]) -> (KeyRange, pinned: Int, ranged: Bool, enforced: Set<Int>) {
            var keys = KeyRange()
            var used: [Int: Int] = [:]
            for column in columns {
                guard let (value, source) = equalities[column] else { break }
                keys.equal.append(value)
                keys.equalAffinities.append(shape.affinities[column])
                if let source { used[source, default: 0] += 1 }
            }
            let pinned = keys.equal.count
            var ranged = false
            if pinned < columns.count {
                let next = columns[pinned]
                keys.boundAffinity = shape.affinities[next]
                if let lower = lowers[next] {
                    keys.lower = (lower.0, lower.1)
                    ranged = true
                    used[lower.2, default: 0] += 1
                }
                if let upper = uppers[next] {
                    keys.upper = (upper.0, upper.1)
                    ranged = true
                    used[upper.2, default: 0] += 1
                }
            }
            // A condition is enforced when every term it gave shaped the range.
            let enforced = Set(used.keys.filter { used[$0] == termCounts[$0] })
            return (keys, pinned, ranged, enforced)
        }
        func score(_ pinned: Int, _ ranged: Bool) -> Int { pinned * 2 + (ranged ? 1 : 0) }

        var best: (AccessPath, Double, Int, Set<Int>) = (.full, total, 0, [])
        if !shape.table.primaryKey.isEmpty {
            var (keys, pinned, ranged, enforced) = range(for: shape.table.primaryKey)
            let value = score(pinned, ranged)
            // Hash-partitioned rows are in key order only within a bucket: the key finds
            // one row, never a range.
            if value > 0, shape.table.hashBuckets == 0 || pinned == shape.table.primaryKey.count {
                keys.isPoint = pinned == shape.table.primaryKey.count
                best = (.primaryKey(keys), estimate(total, pinned: pinned, of: shape.table.primaryKey.count, unique: true, ranged: ranged), value, enforced)
            }
        }
        for index in catalog.indexes(on: shape.table.name) {
            let (keys, pinned, ranged, enforced) = range(for: index.columns)
            let value = score(pinned, ranged)
            if value > best.2 {
                best = (.index(index, keys), estimate(total, pinned: pinned, of: index.columns.count, unique: index.unique, ranged: ranged), value, enforced)
            }
        }
        return (best.0, best.1, best.3)
    }

    private func estimate(_ total: Double, pinned: Int, of columns: Int, unique: Bool, ranged: Bool) -> Double {
        if unique && pinned == columns { return 1 }
        var rows = total
        for _ in 0..<pinned { rows = max(1, rows / 10) }
        if ranged { rows = max(1, rows / 4) }
        return rows
    }

    // MARK: binding

    enum AggregateRule {
        case allowed
        case forbidden(String)
    }

    /// `expression` with names resolved to row positions and subqueries planned.
    func bindNames(_ expression: Expression, _ scope: Scope, aggregates: AggregateRule) throws(SQLError) -> Expression {
        switch expression {
        case let .column(table, name):
            return try resolve(table, name, scope)
        case let .subquery(select):
            return .subplan(id: try planSubquery(select, scope, rowsNeeded: 1, oneColumn: true), use: .scalar, operand: nil, negated: false)
        case let .exists(select, negated):
            return .subplan(id: try planSubquery(select, scope, rowsNeeded: 1, oneColumn: false), use: .exists, operand: nil, negated: negated)
        case let .inSelect(operand, select, negated):
            let boundOperand = try bindNames(operand, scope, aggregates: aggregates)
            return .subplan(id: try planSubquery(select, scope, rowsNeeded: .max, oneColumn: true), use: .membership, operand: boundOperand, negated: negated)
        case let .function(name, arguments, distinct, star):
            if Aggregates.isAggregate(name.normalized, argumentCount: arguments.count, star: star) {
                if case let .forbidden(clause) = aggregates {
                    throw SQLError(.syntax, "the aggregate \(name.text)() is not allowed in \(clause)", at: name.position, length: name.text.count)
                }
                if name.normalized != "count" && star {
                    throw SQLError(.syntax, "only count() takes *", at: name.position, length: name.text.count)
                }
                // Arguments of an aggregate cannot hold another aggregate.
                var bound: [Expression] = []
                for argument in arguments { bound.append(try bindNames(argument, scope, aggregates: .forbidden("the argument of an aggregate"))) }
                return .function(name: name, arguments: bound, distinct: distinct, star: star)
            }
            var bound: [Expression] = []
            for argument in arguments { bound.append(try bindNames(argument, scope, aggregates: aggregates)) }
            return .function(name: name, arguments: bound, distinct: distinct, star: star)
        default:
            var failure: SQLError?
            let result = expression.mappingChildren { child in
                if failure != nil { return child }
                do throws(SQLError) { return try bindNames(child, scope, aggregates: aggregates) } catch {
                    failure = error
                    return child
                }
            }
            if let failure { throw failure }
            return result
        }
    }

    private func resolve(_ table: Name?, _ name: Name, _ scope: Scope) throws(SQLError) -> Expression {
        var current: Scope? = scope
        while let candidate = current {
            let matches = candidate.columns.indices.filter { index in
                let column = candidate.columns[index]
                guard column.name == name.normalized else { return false }
                if let table { return column.table == table.normalized }
                return column.unqualified
            }
            if matches.count > 1 {
                throw SQLError(.name, "the column name \(name.text) is ambiguous; qualify it with its table", at: name.position, length: name.text.count)
            }
            if let index = matches.first {
                lowestLevelReferenced = min(lowestLevelReferenced, candidate.level)
                return .slot(depth: scope.level - candidate.level, index: index, affinity: candidate.columns[index].affinity.comparison)
            }
            current = candidate.parent
        }
        if let table {
            throw SQLError(.name, "there is no column \(table.text).\(name.text)", at: table.position, length: table.text.count + 1 + name.text.count)
        }
        throw SQLError(.name, "there is no column \(name.text)", at: name.position, length: name.text.count)
    }

    private func planSubquery(_ select: Select, _ scope: Scope, rowsNeeded: Int, oneColumn: Bool) throws(SQLError) -> Int {
        let saved = lowestLevelReferenced
        lowestLevelReferenced = .max
        let (node, columns) = try planSelect(select, parent: scope, level: scope.level + 1)
        let correlated = lowestLevelReferenced <= scope.level
        let outerLevel = lowestLevelReferenced
        lowestLevelReferenced = min(saved, lowestLevelReferenced)
        if oneColumn && columns.count != 1 {
            throw SQLError(.syntax, "this subquery must give one column, not \(columns.count)")
        }
        subplans.append(Subplan(root: node, correlated: correlated, rowsNeeded: rowsNeeded, outerLevel: outerLevel))
        return subplans.count - 1
    }

    /// Replaces group keys, aggregate calls and bare columns with positions in the
    /// aggregate row (group keys first, then one value per call).
    private func extract(_ expression: Expression, _ groupKeys: [Expression], _ calls: inout [AggregateCall], level: Int) throws(SQLError) -> Expression {
        if let index = groupKeys.firstIndex(of: expression) {
            return .slot(depth: 0, index: index, affinity: Evaluator.affinity(of: expression))
        }
        switch expression {
        case let .function(name, arguments, distinct, star) where Aggregates.isAggregate(name.normalized, argumentCount: arguments.count, star: star):
            let call = AggregateCall(function: name.normalized, arguments: arguments, distinct: distinct, star: star)
            let index = calls.firstIndex(of: call) ?? { calls.append(call); return calls.count - 1 }()
            return .slot(depth: 0, index: groupKeys.count + index, affinity: nil)
        case let .slot(0, _, affinity):
            let call = AggregateCall(function: "any", arguments: [expression], distinct: false, star: false)
            let index = calls.firstIndex(of: call) ?? { calls.append(call); return calls.count - 1 }()
            return .slot(depth: 0, index: groupKeys.count + index, affinity: affinity)
        case let .subplan(id, _, _, _) where subplans[id].outerLevel <= level:
            throw SQLError(.syntax, "a subquery that reads this query's columns cannot be combined with GROUP BY or aggregates")
        default:
            var failure: SQLError?
            let result = expression.mappingChildren { child in
                if failure != nil { return child }
                do throws(SQLError) { return try extract(child, groupKeys, &calls, level: level) } catch {
                    failure = error
                    return child
                }
            }
            if let failure { throw failure }
            return result
        }
    }

    // MARK: expression helpers

    /// Calls `visit` on `expression` and everything below it.
    static func visit(_ expression: Expression, _ visit: (Expression) -> Void) {
        visit(expression)
        _ = expression.mappingChildren { child in
            Planner.visit(child, visit)
            return child
        }
    }

    static func conjuncts(_ expression: Expression) -> [Expression] {
        if case let .binary(.and, left, right) = expression { return conjuncts(left) + conjuncts(right) }
        return [expression]
    }

    static func conjunction(_ expressions: [Expression]) -> Expression? {
        guard var result = expressions.first else { return nil }
        for expression in expressions.dropFirst() { result = .binary(.and, result, expression) }
        return result
    }

    /// The lowest and highest current-row positions `expression` reads (nil: none).
    static func slotRange(_ expression: Expression) -> ClosedRange<Int>? {
        var low = Int.max, high = Int.min
        visit(expression) { node in
            if case let .slot(0, index, _) = node {
                low = min(low, index)
                high = max(high, index)
            }
        }
        return low <= high ? low...high : nil
    }

    /// Current-row positions moved by `offset` (to a sub-row's own numbering).
    static func shift(_ expression: Expression, by offset: Int) -> Expression {
        if offset == 0 { return expression }
        if case let .slot(0, index, affinity) = expression { return .slot(depth: 0, index: index + offset, affinity: affinity) }
        return expression.mappingChildren { shift($0, by: offset) }
    }

    static func hasAggregate(_ expression: Expression) -> Bool {
        var found = false
        visit(expression) { node in
            if case let .function(name, arguments, _, star) = node, Aggregates.isAggregate(name.normalized, argumentCount: arguments.count, star: star) { found = true }
        }
        return found
    }

    static func hasSubplan(_ expression: Expression) -> Bool {
        var found = false
        visit(expression) { node in if case .subplan = node { found = true } }
        return found
    }

    /// Whether a subquery inside reads the row at this level (then the condition must
    /// be checked where the whole row is, not pushed down to one table).
    private func readsCurrentRowInSubplan(_ expression: Expression, level: Int) -> Bool {
        var found = false
        Planner.visit(expression) { node in
            if case let .subplan(id, _, _, _) = node, subplans[id].outerLevel <= level { found = true }
        }
        return found
    }

}

extension Array {
    func partitioned(_ first: (Element) -> Bool) -> ([Element], [Element]) {
        var yes: [Element] = [], no: [Element] = []
        for element in self { if first(element) { yes.append(element) } else { no.append(element) } }
        return (yes, no)
    }
}
